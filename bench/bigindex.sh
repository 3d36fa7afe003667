#!/usr/bin/env bash
# A partition with a long index (issue 6): starts millrace on free
# 127.0.0.1 ports, fills a one-partition topic with COUNT records (default
# 4,000,000) in batches of about 13 (the wire client, --batch-bytes 2000),
# which makes some 300,000 index entries (about 550,000 by the end), then produces acks=1 at RATE
# records/s (default 200,000) for RUN_SECONDS (default 10) in batches of
# the same size, and prints that run's summary. A partition's index used to
# be one slice that append copied whole, under the partition's lock, each
# time it grew: the run's p99 then showed the copies. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_millrace
bench() { "$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet \
	--topic one --partitions 1 --batch-bytes 2000 --acks leader "$@"; }
bench --count "${COUNT:-4000000}" > /dev/null
bench --rate "${RATE:-200000}" --duration "${RUN_SECONDS:-10}s"
curl -sf "127.0.0.1:$port/v1/topics/one" | python3 -c 'import json, sys
p = json.load(sys.stdin)["partition_info"][0]
print("index entries (batches): {:,}; records: {:,}".format(p["batches"], p["records"]))'
