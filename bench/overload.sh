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
transport=${TRANSPORT:-http}
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
bench() { "$work/millrace" bench produce --transport "$transport" --brokers "127.0.0.1:$kport" --quiet --json "$@"; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
if [[ $transport == kafka ]]; then
	closed=2 open=4
else
	closed=8 open=64
fi

echo "measuring the sustainable rate over $transport (closed loop, $closed clients, 10 s)..." >&2
sustainable=$(bench --producers $closed --duration 10s | json RecordsPerSec)
rate=$(python3 -c "print(int(2*$sustainable))")
echo "sustainable ${sustainable%.*} records/s; offering $rate records/s for ${secs}s with $open clients..." >&2
curl -sf "127.0.0.1:$port/metrics" > "$work/metrics.before"

peak=0
( while kill -0 $pid 2>/dev/null; do
	rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
	echo "$rss"
	sleep 0.5
  done ) > "$work/rss" &
sampler=$!
bench --producers $open --rate "$rate" --duration "${secs}s" > "$work/over.json"
curl -sf "127.0.0.1:$port/metrics" > "$work/metrics.after" || true
alive=yes; kill -0 $pid 2>/dev/null || alive=no
kill $sampler 2>/dev/null || true
peak=$(sort -n "$work/rss" | tail -1)
python3 - "$work" "$sustainable" "$rate" "$peak" "$alive" "$secs" "$transport" <<'PY'
import json, re, sys
work = sys.argv[1]
r = json.load(open(work + "/over.json"))
sust, rate, peak, alive, secs, transport = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), sys.argv[7]
offered = rate * secs

def series(path, pattern):
    """{labels: value} of the samples whose line matches pattern."""
    out = {}
    try:
        for line in open(path):
            m = re.match(pattern, line)
            if m:
                out[m.group(1)] = float(m.group(2))
    except FileNotFoundError:
        pass
    return out

if transport == "kafka":
    # The server's own figures: batches shed, and Produce p99 from its histogram.
    shed_re = r'^millrace_shed_requests_total\{reason="(overloaded)"\} (\S+)'
    b, a = series(work + "/metrics.before", shed_re), series(work + "/metrics.after", shed_re)
    shed = int(a.get("overloaded", 0) - b.get("overloaded", 0))
    h_re = r'^millrace_kafka_request_duration_seconds_bucket\{api="Produce",le="([^"]+)"\} (\S+)'
    hb, ha = series(work + "/metrics.before", h_re), series(work + "/metrics.after", h_re)
    les = sorted(ha, key=lambda x: float("inf") if x == "+Inf" else float(x))
    total = ha.get("+Inf", 0) - hb.get("+Inf", 0)
    p99 = next((le for le in les if ha[le] - hb.get(le, 0) >= 0.99 * total), None) if total else None
    server = "—" if p99 is None else f"≤ {float(p99)*1000:.1f} ms"
    print("| sustainable (closed loop) | offered | accepted | shed produce batches (REQUEST_TIMED_OUT, retried) | errors | p99 Produce, server's time | p99 per record, from intended send | server RSS peak | server alive |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {sust:,.0f} rec/s | {rate:,} rec/s × {secs}s = {offered:,} | {r['Records']:,} ({r['RecordsPerSec']:,.0f} rec/s) | {shed:,} | {r['Errors']} | {server} | {r['P99']/1000:.1f} ms | {peak/1024:.0f} MiB | {alive} |")
else:
    batch = 1000
    print("| sustainable (closed loop) | offered | accepted | shed requests (429) | errors | p99 accepted, server response | p99 accepted, from intended send | server RSS peak | server alive |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {sust:,.0f} rec/s | {rate:,} rec/s × {secs}s = {offered:,} | {r['Records']:,} ({r['RecordsPerSec']:,.0f} rec/s) | {r['Shed']:,} ({r['Shed']*batch:,} records) | {r['Errors']} | {r['ServiceP99']/1000:.1f} ms | {r['P99']/1000:.1f} ms | {peak/1024:.0f} MiB | {alive} |")
PY
