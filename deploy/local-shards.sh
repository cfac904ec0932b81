#!/bin/sh
# The sharded flow of an engine, run on this machine: N shards one after another, each with the
# environment the engine sets, then `kmsaudit merge` into OUT_ROOT/pack.
#   usage: deploy/local-shards.sh N OUT_ROOT [kubernetes|batch|github] [-- scan arguments]
# KMSAUDIT names the binary (default: kmsaudit on PATH). Exit code: that of the merge (0, 3 when
# failing findings exist, 4 when something could not be assessed).
set -eu
here=$(dirname "$0")
count=${1:?usage: local-shards.sh N OUT_ROOT [kubernetes|batch|github] [-- scan arguments]}
root=${2:?usage: local-shards.sh N OUT_ROOT [kubernetes|batch|github] [-- scan arguments]}
shift 2
engine=kubernetes
if [ $# -gt 0 ] && [ "$1" != "--" ]; then engine=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
mkdir -p "$root"
i=0
while [ "$i" -lt "$count" ]; do
  case "$engine" in
    kubernetes) env -u AWS_BATCH_JOB_ARRAY_INDEX -u KMSAUDIT_SHARD_INDEX \
                  JOB_COMPLETION_INDEX="$i" KMSAUDIT_SHARDS="$count" KMSAUDIT_OUT_ROOT="$root" \
                  sh "$here/kmsaudit-shard.sh" "$@" ;;
    batch)      env -u JOB_COMPLETION_INDEX -u KMSAUDIT_SHARD_INDEX \
                  AWS_BATCH_JOB_ARRAY_INDEX="$i" KMSAUDIT_SHARDS="$count" KMSAUDIT_OUT_ROOT="$root" \
                  sh "$here/kmsaudit-shard.sh" "$@" ;;
    github)     env -u JOB_COMPLETION_INDEX -u AWS_BATCH_JOB_ARRAY_INDEX \
                  KMSAUDIT_SHARD_INDEX="$((i + 1))" KMSAUDIT_SHARDS="$count" KMSAUDIT_OUT_ROOT="$root" \
                  sh "$here/kmsaudit-shard.sh" "$@" ;;
    *) echo "local-shards: unknown engine $engine (kubernetes, batch or github)" >&2; exit 2 ;;
  esac
  i=$((i + 1))
done
set -- "$root"/shard-*
exec "${KMSAUDIT:-kmsaudit}" merge "$@" --out "$root/pack"
