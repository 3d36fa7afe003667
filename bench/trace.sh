#!/usr/bin/env bash
# An execution trace of the server under a fixed load, and where its
# busiest Kafka connection's reader lost time (issue 6). Starts millrace on
# free 127.0.0.1 ports with Go's profiles served (--pprof-addr), warms it
# with 200,000 records, has the wire client produce at RATE records/s
# (default 800,000) with ACKS (default leader) for 12 s, takes a
# TRACE_SECONDS (default 8) execution trace from 2 s in, and prints the
# client's summary and bench/stalls.py's reading of the trace (stretches
# of MIN_MS, default 1, or more in which the reader did not run, and what
# ran instead). The trace is kept in TRACE_OUT (default ./server.trace) for
# `go tool trace`. Compare builds with MILLRACE_BIN, settings with
# MILLRACE_CONFIG_FILE. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=${TRACE_OUT:-./server.trace}
pport=$(freeport)
start_millrace --pprof-addr "127.0.0.1:$pport" ${MILLRACE_CONFIG_FILE:+--config "$MILLRACE_CONFIG_FILE"}
bench() { "$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet --topic lat "$@"; }
bench --count 200000 --acks all > /dev/null
bench --rate "${RATE:-800000}" --duration 12s --acks "${ACKS:-leader}" > "$work/run.txt" &
load=$!
sleep 2
curl -sf "127.0.0.1:$pport/debug/pprof/trace?seconds=${TRACE_SECONDS:-8}" > "$out"
wait "$load"
cat "$work/run.txt"
echo
go tool trace -d=parsed "$out" | python3 bench/stalls.py "${MIN_MS:-1}"
