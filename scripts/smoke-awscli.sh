#!/usr/bin/env bash
# Smoke test with the real AWS CLI: starts a coffer server on ephemeral loopback ports and
# drives `aws s3` and `aws s3api` against it over HTTP and HTTPS (with the generated CA).
# Usage: scripts/smoke-awscli.sh PATH/TO/coffer
# Ends with the line "N passed, M failed"; exits non-zero if anything failed.
set -uo pipefail

coffer=${1:?usage: smoke-awscli.sh PATH/TO/coffer}
source "$(dirname "$0")/smoke-lib.sh"
start_smoke_server "$coffer"

export AWS_ACCESS_KEY_ID=$SMOKE_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SMOKE_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
# Presigned URLs with SigV4: Coffer, like every AWS region opened since 2014, refuses SigV2.
printf '[default]\ns3 =\n    signature_version = s3v4\n' >"$work/aws-config"
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
plain=(--endpoint-url "http://$http")
tls=(--endpoint-url "https://$https" --ca-bundle "$ca")

head -c 1048576 /dev/urandom >"$work/small.bin"
head -c 23068672 /dev/urandom >"$work/large.bin" # 22 MiB: the CLI uploads it in parts
mkdir -p "$work/tree/sub" && echo one >"$work/tree/a.txt" && echo two >"$work/tree/sub/b.txt"

step "s3 mb" aws "${plain[@]}" s3 mb s3://smoke
step "s3 cp up (single PUT)" aws "${plain[@]}" s3 cp "$work/small.bin" s3://smoke/small.bin
step "s3 cp down, same bytes" bash -c "aws ${plain[*]} s3 cp s3://smoke/small.bin '$work/small.out' && cmp '$work/small.bin' '$work/small.out'"
step "s3 cp up (multipart)" aws "${plain[@]}" s3 cp "$work/large.bin" s3://smoke/large.bin
step "s3 cp down multipart, same bytes" bash -c "aws ${plain[*]} s3 cp s3://smoke/large.bin '$work/large.out' && cmp '$work/large.bin' '$work/large.out'"
step "s3api head-object multipart ETag" bash -c "aws ${plain[*]} s3api head-object --bucket smoke --key large.bin --query ETag --output text | grep -q -- '-[0-9]'"
step "s3api put-object with Content-MD5" bash -c "aws ${plain[*]} s3api put-object --bucket smoke --key md5.bin --body '$work/small.bin' --content-md5 \$(openssl md5 -binary '$work/small.bin' | base64)"
step "s3api get-object range" bash -c "aws ${plain[*]} s3api get-object --bucket smoke --key small.bin --range bytes=0-99 '$work/range.out' >/dev/null && [ \$(stat -c %s '$work/range.out') = 100 ] && cmp -n 100 '$work/small.bin' '$work/range.out'"
step "s3 sync" aws "${plain[@]}" s3 sync "$work/tree" s3://smoke/tree
step "s3 ls recursive" bash -c "aws ${plain[*]} s3 ls --recursive s3://smoke/tree/ | grep -q 'tree/sub/b.txt'"
step "s3api list-objects-v2 delimiter" bash -c "aws ${plain[*]} s3api list-objects-v2 --bucket smoke --prefix tree/ --delimiter / --query 'CommonPrefixes[0].Prefix' --output text | grep -qx 'tree/sub/'"
step "s3api copy-object" aws "${plain[@]}" s3api copy-object --bucket smoke --key copy.bin --copy-source smoke/small.bin
step "s3api head missing is 404" bash -c "! aws ${plain[*]} s3api head-object --bucket smoke --key missing 2>&1 && aws ${plain[*]} s3api head-object --bucket smoke --key missing 2>&1 | grep -q '404'"
step "https s3 cp round trip" bash -c "aws ${tls[*]} s3 cp '$work/small.bin' s3://smoke/tls.bin && aws ${tls[*]} s3 cp s3://smoke/tls.bin '$work/tls.out' && cmp '$work/small.bin' '$work/tls.out'"
step "s3 presign and fetch" bash -c "curl -sf \"\$(aws ${plain[*]} s3 presign s3://smoke/small.bin)\" -o '$work/presigned.out' && cmp '$work/small.bin' '$work/presigned.out'"
# SSE-C: new buckets block it (AWS's default since April 2026) until the owner allows it;
# then it round-trips over HTTPS and is refused over plain HTTP.
head -c 32 /dev/urandom >"$work/customer.key"
ssec=(--sse-c AES256 --sse-c-key "fileb://$work/customer.key")
step "sse-c blocked on a new bucket (403)" bash -c "! aws ${tls[*]} s3 cp ${ssec[*]} '$work/small.bin' s3://smoke/c.bin 2>'$work/blocked.err' && grep -q 'AccessDenied' '$work/blocked.err'"
step "s3api put-bucket-encryption allows SSE-C" aws "${plain[@]}" s3api put-bucket-encryption --bucket smoke \
    --server-side-encryption-configuration '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"},"BlockedEncryptionTypes":{"EncryptionType":["NONE"]}}]}'
step "https s3 cp --sse-c round trip" bash -c "aws ${tls[*]} s3 cp ${ssec[*]} '$work/small.bin' s3://smoke/c.bin && aws ${tls[*]} s3 cp ${ssec[*]} s3://smoke/c.bin '$work/c.out' && cmp '$work/small.bin' '$work/c.out'"
step "https s3 cp --sse-c multipart round trip" bash -c "aws ${tls[*]} s3 cp ${ssec[*]} '$work/large.bin' s3://smoke/c-large.bin && aws ${tls[*]} s3 cp ${ssec[*]} s3://smoke/c-large.bin '$work/c-large.out' && cmp '$work/large.bin' '$work/c-large.out'"
step "sse-c object unreadable without its key (400)" bash -c "! aws ${tls[*]} s3api get-object --bucket smoke --key c.bin '$work/nokey.out' 2>'$work/nokey.err' && grep -q 'InvalidRequest' '$work/nokey.err'"
step "sse-c refused over plain http" bash -c "! aws ${plain[*]} s3 cp ${ssec[*]} '$work/small.bin' s3://smoke/c-http.bin 2>'$work/http.err' && grep -q 'secure connection\|InvalidRequest' '$work/http.err'"
# The built-in KMS, and SSE-KMS through it.
printf 'attack at dawn' >"$work/msg.txt"
kms_key=$(aws "${plain[@]}" kms create-key --description smoke --query KeyMetadata.KeyId --output text 2>"$work/kms.err")
step "kms create-key" bash -c "[ -n '$kms_key' ] && aws ${plain[*]} kms describe-key --key-id '$kms_key' --query KeyMetadata.KeyState --output text | grep -qx Enabled"
step "kms create-alias" aws "${plain[@]}" kms create-alias --alias-name alias/smoke --target-key-id "$kms_key"
step "kms encrypt and decrypt" bash -c "aws ${plain[*]} kms encrypt --key-id alias/smoke --plaintext 'fileb://$work/msg.txt' --encryption-context purpose=smoke --query CiphertextBlob --output text | base64 -d >'$work/msg.enc' && aws ${plain[*]} kms decrypt --ciphertext-blob 'fileb://$work/msg.enc' --encryption-context purpose=smoke --query Plaintext --output text | base64 -d | cmp - '$work/msg.txt'"
step "kms decrypt with another context fails" bash -c "! aws ${plain[*]} kms decrypt --ciphertext-blob 'fileb://$work/msg.enc' --encryption-context purpose=other 2>'$work/ctx.err' && grep -q InvalidCiphertextException '$work/ctx.err'"
step "s3 cp --sse aws:kms round trip" bash -c "aws ${plain[*]} s3 cp --sse aws:kms --sse-kms-key-id alias/smoke '$work/small.bin' s3://smoke/kms.bin && aws ${plain[*]} s3api head-object --bucket smoke --key kms.bin --query SSEKMSKeyId --output text | grep -q ':key/$kms_key' && aws ${plain[*]} s3 cp s3://smoke/kms.bin '$work/kms.out' && cmp '$work/small.bin' '$work/kms.out'"
step "s3 cp --sse aws:kms multipart (aws/s3 key)" bash -c "aws ${plain[*]} s3 cp --sse aws:kms '$work/large.bin' s3://smoke/kms-large.bin && aws ${plain[*]} s3 cp s3://smoke/kms-large.bin '$work/kms-large.out' && cmp '$work/large.bin' '$work/kms-large.out'"
step "kms disable-key blocks reads" bash -c "aws ${plain[*]} kms disable-key --key-id '$kms_key' && ! aws ${plain[*]} s3 cp s3://smoke/kms.bin '$work/kms2.out' 2>'$work/dis.err' && grep -q 'KMS.DisabledException' '$work/dis.err' && aws ${plain[*]} kms enable-key --key-id '$kms_key'"
step "cloudtrail lookup-events finds the Decrypt calls" bash -c "aws ${plain[*]} cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=Decrypt --query 'Events[].EventName' --output text | grep -q Decrypt"
step "coffer audit lookup names the SSE-KMS object" bash -c "'$coffer' audit lookup --config '$work/coffer.toml' --object smoke/kms.bin | grep -q 'smoke/kms.bin'"
cat >"$work/policy.json" <<'JSON'
{"Version": "2012-10-17", "Statement": [{"Sid": "DenyUnencryptedUploads", "Effect": "Deny",
  "Principal": "*", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::smoke/*",
  "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}}]}
JSON
step "s3api put-bucket-policy and get-bucket-policy" bash -c "aws ${plain[*]} s3api put-bucket-policy --bucket smoke --policy 'file://$work/policy.json' && aws ${plain[*]} s3api get-bucket-policy --bucket smoke --query Policy --output text | grep -q DenyUnencryptedUploads"
step "the policy denies an upload without SSE, allows one with it" bash -c "! aws ${plain[*]} s3api put-object --bucket smoke --key nosse --body '$work/msg.txt' 2>'$work/pol.err' && grep -q AccessDenied '$work/pol.err' && aws ${plain[*]} s3api put-object --bucket smoke --key sse --body '$work/msg.txt' --server-side-encryption AES256 >/dev/null"
step "s3api delete-bucket-policy" aws "${plain[@]}" s3api delete-bucket-policy --bucket smoke
step "s3 rm recursive" aws "${plain[@]}" s3 rm --recursive s3://smoke
step "s3 rb" aws "${plain[@]}" s3 rb s3://smoke

echo "smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
