#!/usr/bin/env bash
# Overload run (issue 5): offers twice the sustainable HTTP append load for
# OVERLOAD_SECONDS (default 60) to a millrace server whose memory for
# unpersisted data is bounded at 8 MiB per shard and whose Go memory limit
# is MEMORY_LIMIT (default 256MiB), and reports what was
# offered, accepted and shed (HTTP 429), the server's peak RSS, the p99
# latency of accepted requests, and whether the server survived.
# Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${OVERLOAD_SECONDS:-60}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/millrace" ./cmd/millrace
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/millrace.yaml" <<CONF
max_pending_bytes: 8MiB
memory_limit: ${MEMORY_LIMIT:-256MiB}
CONF
"$work/millrace" serve --data "$work/data" --http-addr "127.0.0.1:$port" --kafka-addr "127.0.0.1:$kport" \
	--config "$work/millrace.yaml" > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 200); do curl -sf "127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.05; done
export MILLRACE_SERVER="http://127.0.0.1:$port"
bench() { "$work/millrace" bench produce --transport http --quiet --json "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

echo "measuring the sustainable rate (closed loop, 8 connections, 10 s)..." >&2
sustainable=$(bench --producers 8 --duration 10s | json RecordsPerSec)
rate=$(python3 -c "print(int(2*$sustainable))")
echo "sustainable ${sustainable%.*} records/s; offering $rate records/s for ${secs}s with 64 connections..." >&2

peak=0
( while kill -0 $pid 2>/dev/null; do
	rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
	echo "$rss"
	sleep 0.5
  done ) > "$work/rss" &
sampler=$!
bench --producers 64 --rate "$rate" --duration "${secs}s" > "$work/over.json"
alive=yes; kill -0 $pid 2>/dev/null || alive=no
kill $sampler 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -1)
python3 - "$work/over.json" "$sustainable" "$rate" "$peak" "$alive" "$secs" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sust, rate, peak, alive, secs = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
batch = 1000
offered = rate * secs
print(f"| sustainable (closed loop) | offered | accepted | shed requests (429) | errors | p99 accepted, server response | p99 accepted, from intended send | server RSS peak | server alive |")
print(f"|---|---|---|---|---|---|---|---|---|")
print(f"| {sust:,.0f} rec/s | {rate:,} rec/s × {secs}s = {offered:,} | {r['Records']:,} ({r['RecordsPerSec']:,.0f} rec/s) | {r['Shed']:,} ({r['Shed']*batch:,} records) | {r['Errors']} | {r['ServiceP99']/1000:.1f} ms | {r['P99']/1000:.1f} ms | {peak/1024:.0f} MiB | {alive} |")
PY
