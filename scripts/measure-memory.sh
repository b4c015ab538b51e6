#!/usr/bin/env bash
# Streams 10 GiB through the AWS CLI (multipart up, streamed down, SSE-S3) and prints the
# server's peak resident memory (VmHWM): encryption must run in constant memory.
# Usage: scripts/measure-memory.sh [DIR-WITH-coffer]   (needs `aws` on PATH, ~22 GiB of disk)
set -u

bin=${1:-target/release}
. "$(dirname "$0")/bench-lib.sh"
BENCH_WORK=$(mktemp -d /var/tmp/coffer-mem.XXXXXX)
work=$BENCH_WORK
trap bench_cleanup EXIT
bench_config $work/c.toml $work/data
bench_serve coffer "$bin" $work/c.toml --http 127.0.0.1:19970 --https ""
pid=$BENCH_PID
export AWS_ACCESS_KEY_ID=$BENCH_AK AWS_SECRET_ACCESS_KEY=$BENCH_SK AWS_DEFAULT_REGION=us-east-1
ep=(--endpoint-url http://127.0.0.1:19970)
head -c $((10*1024*1024*1024)) /dev/urandom > $work/big.bin
want=$(sha256sum < $work/big.bin | cut -d' ' -f1)
aws "${ep[@]}" s3 mb s3://mem
printf "[default]\ns3 =\n    multipart_chunksize = 64MB\n" > $work/aws-config; export AWS_CONFIG_FILE=$work/aws-config
time aws "${ep[@]}" s3 cp --only-show-errors $work/big.bin s3://mem/big.bin
echo "after PUT: $(grep VmHWM /proc/$pid/status)"
rm -f $work/big.bin
got=$(aws "${ep[@]}" s3 cp --only-show-errors s3://mem/big.bin - | sha256sum | cut -d' ' -f1)
echo "sha256 match: $([ "$want" = "$got" ] && echo yes || echo NO)"
echo "after GET: $(grep VmHWM /proc/$pid/status)"
du -sh $work/data
