#!/usr/bin/env bash
# The kafkajs tests against a `millrace serve` binary built from this
# repository: npm ci (if node_modules is missing), start the server, run
# node --test with MILLRACE_KAFKA pointing at it.
set -euo pipefail
cd "$(dirname "$0")"
[ -d node_modules/kafkajs ] || npm ci --no-audit --no-fund
source ../serve.sh
MILLRACE_KAFKA=$KAFKA_ADDR KAFKAJS_NO_PARTITIONER_WARNING=1 node --test
