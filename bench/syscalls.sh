#!/usr/bin/env bash
# System calls and CPU per request (issue 6). Starts millrace on free
# 127.0.0.1 ports, warms it with 200,000 records, then has the wire client
# produce at RATE records/s (default 800,000) with ACKS (default leader)
# for RUN_SECONDS (default 8), and prints, from the server's /proc
# counters and /metrics over that run: Produce requests, write-family
# system calls (write, pwrite, writev) and read-family ones per request,
# the server's CPU time per record, and the client's p50/p99. Counters,
# not timings: steadier than latencies on a shared machine. Compare builds
# with MILLRACE_BIN (bench/lib.sh), settings with MILLRACE_CONFIG_FILE (a
# config file for the server). Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
start_millrace ${MILLRACE_CONFIG_FILE:+--config "$MILLRACE_CONFIG_FILE"}
bench() { "$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet --topic lat "$@"; }
counters() { # syscr syscw cputicks produce-requests
	echo "$(awk '/^syscr/{print $2}' "/proc/$pid/io") $(awk '/^syscw/{print $2}' "/proc/$pid/io")" \
		"$(cputicks)" \
		"$(curl -sf "127.0.0.1:$port/metrics" | awk '/^millrace_kafka_request_duration_seconds_count\{api="Produce"\}/{print $2}')"
}
bench --count 200000 --acks all > /dev/null
before=$(counters)
bench --rate "${RATE:-800000}" --duration "${RUN_SECONDS:-8}s" --acks "${ACKS:-leader}" --json > "$work/run.json"
after=$(counters)
python3 - "$work/run.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b, a, hz = [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()], int(sys.argv[4])
req = a[3] - b[3]
print(f"{req:,.0f} Produce requests; per request {(a[1] - b[1]) / req:.2f} write and {(a[0] - b[0]) / req:.2f} read system calls; "
      f"server CPU {(a[2] - b[2]) / hz / r['Records'] * 1e6:.2f} µs per record; client p50 {r['P50'] / 1000:.2f} ms, p99 {r['P99'] / 1000:.2f} ms")
PY
