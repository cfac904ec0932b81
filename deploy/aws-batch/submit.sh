#!/bin/sh
# A sharded kmsaudit audit as an AWS Batch array job: child I scans shard I+1
# (deploy/kmsaudit-shard.sh reads AWS_BATCH_JOB_ARRAY_INDEX) and copies its pack to S3; a merge
# job that depends on the whole array joins the shards and uploads the pack.
#   usage: deploy/aws-batch/submit.sh JOB_QUEUE JOB_DEFINITION s3://BUCKET/PREFIX [SHARDS]
# The job definition (job-definition.json) runs an image with kmsaudit, deploy/kmsaudit-shard.sh
# and the AWS CLI; its job role may assume the audit role in every member account.
# The same flow runs locally with: deploy/local-shards.sh 4 OUT batch
set -eu
queue=${1:?job queue}
definition=${2:?job definition}
dest=${3:?s3://bucket/prefix}
shards=${4:-4}
run="$dest/$(date -u +%Y%m%dT%H%M%SZ)"
# Commands without double quotes, so that they sit in the JSON overrides as they are.
shard_cmd='kmsaudit-shard.sh && i=$((AWS_BATCH_JOB_ARRAY_INDEX + 1)) && aws s3 cp --recursive out/shard-$i $KMSAUDIT_RUN/shard-$i'
overrides=$(printf '{"command":["sh","-c","%s"],"environment":[{"name":"KMSAUDIT_SHARDS","value":"%s"},{"name":"KMSAUDIT_OUT_ROOT","value":"out"},{"name":"KMSAUDIT_RUN","value":"%s"}]}' "$shard_cmd" "$shards" "$run")
array=$(aws batch submit-job --job-name kmsaudit-shards --job-queue "$queue" \
  --job-definition "$definition" --array-properties "size=$shards" \
  --container-overrides "$overrides" --query jobId --output text)
# Exit 3 (failing findings) and 4 (incomplete) are verdicts: the pack is uploaded either way.
merge_cmd='aws s3 cp --recursive $KMSAUDIT_RUN run && kmsaudit merge run/shard-* --out pack; s=$?; aws s3 cp --recursive pack $KMSAUDIT_RUN/pack && [ $s -eq 0 -o $s -eq 3 -o $s -eq 4 ]'
overrides=$(printf '{"command":["sh","-c","%s"],"environment":[{"name":"KMSAUDIT_RUN","value":"%s"}]}' "$merge_cmd" "$run")
aws batch submit-job --job-name kmsaudit-merge --job-queue "$queue" \
  --job-definition "$definition" --depends-on "jobId=$array" \
  --container-overrides "$overrides" --query jobId --output text
echo "shards: $array; pack: $run/pack" >&2
