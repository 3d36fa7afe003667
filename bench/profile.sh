#!/usr/bin/env bash
# A profile of the server under a fixed load (issue 6). Starts millrace on
# free 127.0.0.1 ports with Go's profiles served (--pprof-addr), warms it
# with 200,000 records, has the wire client produce at RATE records/s
# (default 800,000) with ACKS (default leader) for 16 s, and takes a
# PROFILE_SECONDS (default 10) profile of the server from 3 s in, kept in
# PROFILE_OUT (default ./server.prof) for `go tool pprof` or `go tool
# trace`. It prints the client's summary, then, by PROFILE:
#   profile (default)  a CPU profile's top functions by cumulative time
#                      (go tool pprof -top -cum);
#   allocs             the allocations made over the window (the allocs
#                      profile's delta), by bytes allocated;
#   trace              an execution trace, read by bench/stalls.py: the
#                      stretches of MIN_MS (default 1) or more in which the
#                      busiest Kafka connection's reader did not run, and
#                      what ran instead.
# Compare builds with MILLRACE_BIN, settings with MILLRACE_CONFIG_FILE.
# Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
out=${PROFILE_OUT:-./server.prof}
pport=$(freeport)
start_millrace --pprof-addr "127.0.0.1:$pport" ${MILLRACE_CONFIG_FILE:+--config "$MILLRACE_CONFIG_FILE"}
bench() { "$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet --topic lat "$@"; }
bench --count 200000 --acks all > /dev/null
bench --rate "${RATE:-800000}" --duration 16s --acks "${ACKS:-leader}" > "$work/run.txt" &
load=$!
sleep 3
kind=${PROFILE:-profile}
curl -sf "127.0.0.1:$pport/debug/pprof/$kind?seconds=${PROFILE_SECONDS:-10}" > "$out"
wait "$load"
cat "$work/run.txt"
echo
case $kind in
allocs) go tool pprof -sample_index=alloc_space -top -nodecount=40 "$work/millrace" "$out" 2>/dev/null ;;
trace) go tool trace -d=parsed "$out" | python3 bench/stalls.py "${MIN_MS:-1}" ;;
*) go tool pprof -top -cum -nodecount=40 "$work/millrace" "$out" 2>/dev/null ;;
esac
