#!/usr/bin/env bash
# The server's own acks=all time (issue 6): starts millrace on free
# 127.0.0.1 ports with CONFIG (a config file, optional), produces WARMUP
# records (default 2,000,000) as fast as possible, then produces acks=all at
# RATE records/s (default 1,000,000) for RUN_SECONDS (default 8) with one
# producer client, and prints the client's summary and, from the server's
# histograms across the run, the Produce request, fsync and flush write
# times (bench/histq.py). Run it twice with different configs, alternating,
# to compare settings such as flusher_nice. ACKS (default all) sets the
# fixed-rate run's --acks; MODE=e2e makes it an end-to-end run (acks=all);
# BENCH_FLAGS adds bench flags to both runs (say
# "--client wire --inflight 1"); SERVER_ENV, environment for the server
# (say GOMAXPROCS=4). Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_millrace ${CONFIG:+--config "$CONFIG"}
bench() { "$work/millrace" bench "$@" --brokers "127.0.0.1:$kport" --producers 1 --quiet ${BENCH_FLAGS:-}; }
bench produce --count "${WARMUP:-2000000}" > /dev/null
curl -sf "127.0.0.1:$port/metrics" > "$work/before"
bench "${MODE:-produce}" --rate "${RATE:-1000000}" --duration "${RUN_SECONDS:-8}s" --acks "${ACKS:-all}"
curl -sf "127.0.0.1:$port/metrics" > "$work/after"
python3 bench/histq.py "$work/before" "$work/after"
