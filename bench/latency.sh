#!/usr/bin/env bash
# Latency at half of peak (issue 6). Starts its own millrace on free
# 127.0.0.1 ports, measures the peak durable produce rate over the Kafka
# protocol (acks=all, as fast as possible), then runs produce acks=1,
# produce acks=all and end to end on a fixed schedule at FRACTION (default
# 0.5) of that peak, RUN_SECONDS (default 10) each. For each run it prints
# the client's latency (per record, from its intended send time: what a
# user's application sees), with the wire client also from the request's
# actual send (the round trip without the client's lateness), beside the
# server's own time for the same Produce requests
# (millrace_kafka_request_duration_seconds, from the request read whole to
# its response written) and the fsync time
# (millrace_fsync_duration_seconds), both taken as the difference of the
# server's histograms before and after the run, and the server's CPU time
# (user and system, from /proc) per record: on a shared machine whose
# latencies swing by the hour, the steadier figure for comparing builds.
# Every run uses PRODUCERS
# (default 1) franz-go producer clients: on 2 cores a second client adds
# more CPU than throughput, and its queueing shows in every latency.
# CLIENT=wire (default franz) runs every step with the bench's own minimal
# Kafka client instead (docs/cli.md), peak included; RATE, if set, replaces
# the fraction of the measured peak; any other bench flags go in
# BENCH_FLAGS (say --inflight 1). CLIENT_NICE runs the client at that nice
# value (say 10, to give the server the CPU first). Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${RUN_SECONDS:-10}
fraction=${FRACTION:-0.5}
producers=${PRODUCERS:-1}
client=${CLIENT:-franz}
. bench/lib.sh
start_millrace ${MILLRACE_CONFIG_FILE:+--config "$MILLRACE_CONFIG_FILE"}
bench() { nice -n "${CLIENT_NICE:-0}" "$work/millrace" bench "$@" --brokers "127.0.0.1:$kport" --producers "$producers" --client "$client" ${BENCH_FLAGS:-} --quiet --json; }
metrics() { curl -sf "127.0.0.1:$port/metrics" > "$1"; }

echo "measuring the peak: acks=all, as fast as possible, 3,000,000 records, $producers $client producer(s)..." >&2
bench produce --topic peak --count 3000000 --acks all > "$work/peak.json"
peak=$(python3 -c "import json; print(int(json.load(open('$work/peak.json'))['RecordsPerSec']))")
rate=${RATE:-$(python3 -c "print(int($peak * $fraction))")}
echo "peak $peak records/s; fixed-rate runs at $rate records/s for ${secs}s each" >&2

run() { # name, then bench arguments
	local name=$1
	shift
	metrics "$work/$name.before"
	local t0
	t0=$(cputicks)
	bench "$@" --rate "$rate" --duration "${secs}s" > "$work/$name.json"
	echo "$t0 $(cputicks) $(getconf CLK_TCK)" > "$work/$name.cpu"
	metrics "$work/$name.after"
}
run acks1 produce --topic lat --acks leader
run acksall produce --topic lat --acks all
run e2e e2e --topic lat

PYTHONPATH=bench python3 - "$work" "$peak" "$rate" <<'PY'
import json, sys
from histq import hist, ms, quantile
work, peak, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

print(f'peak durable produce: {peak:,} records/s; runs at {rate:,} records/s')
print()
print('| run | client p50 | client p99 | client p99.9 | client p99 from the send | server Produce p50 | server Produce p99 | requests | fsync p99 | server CPU per record |')
print('|---|---|---|---|---|---|---|---|---|---|')
for name, label in (('acks1', 'produce acks=1'), ('acksall', 'produce acks=all'), ('e2e', 'end to end (acks=all)')):
    r = json.load(open(f'{work}/{name}.json'))
    b, a = f'{work}/{name}.before', f'{work}/{name}.after'
    sb = hist(b, 'millrace_kafka_request_duration_seconds', {'api': 'Produce'})
    sa = hist(a, 'millrace_kafka_request_duration_seconds', {'api': 'Produce'})
    s50, n = quantile(sb, sa, 0.50)
    s99, _ = quantile(sb, sa, 0.99)
    f99, _ = quantile(hist(b, 'millrace_fsync_duration_seconds', {'shard': '0'}),
                      hist(a, 'millrace_fsync_duration_seconds', {'shard': '0'}), 0.99)
    t0, t1, hz = map(int, open(f'{work}/{name}.cpu').read().split())
    cpu = (t1 - t0) / hz / max(r['Records'], 1) * 1e6
    sent = f"{r['ServiceP99']/1000:.2f} ms" if r.get('ServiceP99') else '–'
    print(f"| {label} | {r['P50']/1000:.2f} ms | {r['P99']/1000:.2f} ms | {r['P999']/1000:.2f} ms | {sent} | {ms(s50)} | {ms(s99)} | {n:,} | {ms(f99)} | {cpu:.2f} µs |")
PY
