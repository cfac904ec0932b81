#!/bin/sh
# One shard of a sharded kmsaudit audit, whichever engine started it. The shard index comes from
# the engine's own variable:
#   Kubernetes Indexed Job   JOB_COMPLETION_INDEX        (0-based)
#   AWS Batch array job      AWS_BATCH_JOB_ARRAY_INDEX   (0-based)
#   GitHub Actions matrix,
#   anything else            KMSAUDIT_SHARD_INDEX        (1-based)
# and the number of shards from KMSAUDIT_SHARDS. The shard's pack goes to
# $KMSAUDIT_OUT_ROOT/shard-I (default ./shard-I). Extra arguments go to `kmsaudit scan`.
# Exit code: that of `kmsaudit scan --fail-on none`, except that 4 (something could not be read)
# is success here: the merge reports it, and the engine must not retry a shard for it.
set -eu
: "${KMSAUDIT_SHARDS:?set KMSAUDIT_SHARDS to the number of shards}"
if [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  index=$((JOB_COMPLETION_INDEX + 1))
elif [ -n "${AWS_BATCH_JOB_ARRAY_INDEX:-}" ]; then
  index=$((AWS_BATCH_JOB_ARRAY_INDEX + 1))
elif [ -n "${KMSAUDIT_SHARD_INDEX:-}" ]; then
  index=$KMSAUDIT_SHARD_INDEX
else
  echo "kmsaudit-shard: no shard index (JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or KMSAUDIT_SHARD_INDEX)" >&2
  exit 2
fi
out="${KMSAUDIT_OUT_ROOT:-.}/shard-$index"
echo "kmsaudit-shard: shard $index/$KMSAUDIT_SHARDS -> $out" >&2
status=0
# A shard's pack holds its snapshot and findings.json only: the merge renders the whole pack.
"${KMSAUDIT:-kmsaudit}" scan --shard "$index/$KMSAUDIT_SHARDS" --fail-on none --output-formats json \
  --out "$out" "$@" || status=$?
if [ "$status" -eq 4 ]; then status=0; fi
exit "$status"
