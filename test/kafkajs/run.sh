#!/usr/bin/env bash
# The kafkajs tests against a `millrace serve` binary built from this
# repository: npm ci (if node_modules is missing), start the server, run
# node --test with MILLRACE_KAFKA pointing at it, then check that reads went
# through sealed segments' index files.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/kafkajs ] || npm ci --no-audit --no-fund
# 1 MiB segments (the smallest allowed): each test's records (a 1 MiB value
# among them) fill sealed segments, whose index entries leave memory before
# the consumer group reads them; the server's metrics must then show
# segments read back from their index files.
SERVE_CONFIG='segment_bytes: 1MiB'
source ../serve.sh
MILLRACE_KAFKA=$KAFKA_ADDR KAFKAJS_NO_PARTITIONER_WARNING=1 node --test
loads=$(curl -sf "http://$HTTP_ADDR/metrics" | awk '$1 == "millrace_index_cache_loads_total" {print $2}')
python3 -c "import sys; sys.exit(0 if float('${loads:-0}') > 0 else 1)" ||
	{ echo "FAIL: no sealed segment's index entries were read back (millrace_index_cache_loads_total ${loads:-missing})" >&2; exit 1; }
echo "sealed segments' index entries read back: $loads"
