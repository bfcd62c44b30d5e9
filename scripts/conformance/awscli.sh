#!/usr/bin/env bash
# scripts/conformance/awscli.sh: Debian's AWS CLI (awscli, v2) against a
# running kinesin fake: the control and data plane, each answer asserted.
# Exits non-zero at the first mismatch.
#
# Environment: KINESIN_FAKE_URL (plain endpoint), KINESIN_FAKE_TLS_URL and
# KINESIN_FAKE_CERT (TLS endpoint and its certificate); AWS_CLI (default
# /usr/bin/aws, Debian's).
set -euo pipefail

URL=${KINESIN_FAKE_URL:?KINESIN_FAKE_URL is not set}
TLS_URL=${KINESIN_FAKE_TLS_URL:?KINESIN_FAKE_TLS_URL is not set}
CERT=${KINESIN_FAKE_CERT:?KINESIN_FAKE_CERT is not set}
AWS_CLI=${AWS_CLI:-/usr/bin/aws}

# Any credentials do; nothing from the user's AWS configuration is read.
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER="" AWS_MAX_ATTEMPTS=1
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

trap 'echo "awscli: FAIL: the command at line $LINENO failed" >&2' ERR

STREAM=cli-orders-$$ # unique: the fake may serve other runs too
CHECKS=0

kin() { "$AWS_CLI" --endpoint-url "$URL" --output text kinesis "$@"; }

check() { # check WHAT GOT WANT
  if [[ $2 != "$3" ]]; then
    printf 'awscli: FAIL %s:\n  got:  %q\n  want: %q\n' "$1" "$2" "$3" >&2
    exit 1
  fi
  CHECKS=$((CHECKS + 1))
  printf 'awscli: ok %s\n' "$1"
}

rows() { tr ' ' '\t'; } # the CLI's text output: one row a line, tab-separated

# Streams: create, describe.
kin create-stream --stream-name "$STREAM" --shard-count 2
check "describe-stream-summary of a new 2-shard stream (fast profile: ACTIVE at once)" \
  "$(kin describe-stream-summary --stream-name "$STREAM" \
      --query 'StreamDescriptionSummary.[StreamStatus,OpenShardCount,RetentionPeriodHours,StreamARN]')" \
  "$(printf 'ACTIVE\t2\t24\tarn:aws:kinesis:us-east-1:123456789012:stream/%s' "$STREAM")"

# Records: put one, put a batch on shard 0 by explicit hash key, read shard 0 back.
check "put-record with an explicit hash key lands on shard 0" \
  "$(kin put-record --stream-name "$STREAM" --partition-key a --explicit-hash-key 1 \
      --cli-binary-format raw-in-base64-out --data first --query ShardId)" "shardId-000000000000"
check "put-records: none failed, all on shard 0" \
  "$(kin put-records --stream-name "$STREAM" --cli-binary-format raw-in-base64-out \
      --records Data=second,PartitionKey=b,ExplicitHashKey=2 Data=third,PartitionKey=c,ExplicitHashKey=3 \
      --query '[FailedRecordCount,join(`,`,Records[].ShardId)]')" \
  "$(printf '0\tshardId-000000000000,shardId-000000000000')"
ITER=$(kin get-shard-iterator --stream-name "$STREAM" --shard-id shardId-000000000000 \
  --shard-iterator-type TRIM_HORIZON --query ShardIterator)
RECORDS=$(kin get-records --shard-iterator "$ITER" --query 'Records[].[PartitionKey,Data]')
DECODED=$(while read -r key data; do printf '%s=%s ' "$key" "$(base64 -d <<<"$data")"; done <<<"$RECORDS")
check "get-records from TRIM_HORIZON: the three records, in order" "$DECODED" "a=first b=second c=third "

# Resharding: split shard 0 at its middle, merge the children back.
kin split-shard --stream-name "$STREAM" --shard-to-split shardId-000000000000 \
  --new-starting-hash-key 85070591730234615865843651857942052864
kin merge-shards --stream-name "$STREAM" --shard-to-merge shardId-000000000002 \
  --adjacent-shard-to-merge shardId-000000000003
check "list-shards after split-shard and merge-shards: parents closed, children naming them" \
  "$(kin list-shards --stream-name "$STREAM" --query 'Shards[].[ShardId,ParentShardId,AdjacentParentShardId,
      HashKeyRange.StartingHashKey,SequenceNumberRange.EndingSequenceNumber!=null]')" \
  "$(rows <<'EOF'
shardId-000000000000 None None 0 True
shardId-000000000001 None None 170141183460469231731687303715884105728 False
shardId-000000000002 shardId-000000000000 None 0 True
shardId-000000000003 shardId-000000000000 None 85070591730234615865843651857942052864 True
shardId-000000000004 shardId-000000000002 shardId-000000000003 0 False
EOF
)"

# Tags.
kin add-tags-to-stream --stream-name "$STREAM" --tags team=billing,env=test
check "list-tags-for-stream" \
  "$(kin list-tags-for-stream --stream-name "$STREAM" --query 'Tags[].[Key,Value]')" \
  "$(printf 'env\ttest\nteam\tbilling')"

# Enhanced Fan-Out consumers, over TLS with the fake's certificate.
ARN="arn:aws:kinesis:us-east-1:123456789012:stream/$STREAM"
check "register-stream-consumer over TLS: CREATING, as the service answers" \
  "$("$AWS_CLI" --endpoint-url "$TLS_URL" --ca-bundle "$CERT" --output text kinesis register-stream-consumer \
      --stream-arn "$ARN" --consumer-name billing --query Consumer.[ConsumerName,ConsumerStatus])" \
  "$(printf 'billing\tCREATING')"
check "list-stream-consumers: ACTIVE (fast profile)" \
  "$(kin list-stream-consumers --stream-arn "$ARN" --query 'Consumers[].[ConsumerName,ConsumerStatus]')" \
  "$(printf 'billing\tACTIVE')"

# Delete; the stream is gone, with the service's error code.
kin delete-stream --stream-name "$STREAM" --enforce-consumer-deletion
ERR=$(kin describe-stream-summary --stream-name "$STREAM" 2>&1 >/dev/null) && {
  echo "awscli: FAIL describe-stream-summary of a deleted stream succeeded" >&2; exit 1; }
check "describe-stream-summary after delete-stream: ResourceNotFoundException" \
  "$(grep -o 'ResourceNotFoundException' <<<"$ERR" | head -n1)" "ResourceNotFoundException"

echo "awscli: $CHECKS checks passed ($("$AWS_CLI" --version))"
