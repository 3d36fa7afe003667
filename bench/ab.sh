#!/usr/bin/env bash
# Two millrace servers side by side (issue 6): A and B, each its own
# binary (BIN_A, BIN_B; default a build of this checkout), config file
# (CONFIG_A, CONFIG_B) and environment (ENV_A, ENV_B, say
# "GOMAXPROCS=3"), both started on free 127.0.0.1 ports and left running,
# then PAIRS (default 4) rounds of the same fixed-rate produce against A,
# then B: the wire client, ACKS (default leader, i.e. acks=1; or all) at
# RATE records/s (default 800,000) for RUN_SECONDS (default 8) each. Each
# run prints the client's p50, p99 and p99.9 (from the intended send
# time), its p99 from the request's actual send, the server's own Produce
# p50 and p99 and fsync p50 and p99 over the run (the difference of its
# histograms), and its CPU time per record. On a machine whose latencies
# swing from minute to minute, compare the rounds pair by pair. Stops by
# itself, and kills both servers on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x "$(command -v go)" ] || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
pa= pb=
trap '[ -n "$pa" ] && kill $pa 2>/dev/null; [ -n "$pb" ] && kill $pb 2>/dev/null; rm -rf "$work"' EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -z "${BIN_A:-}" ] || [ -z "${BIN_B:-}" ]; then
	go build -o "$work/millrace" ./cmd/millrace
fi
bin_a=${BIN_A:-$work/millrace}
bin_b=${BIN_B:-$work/millrace}
start() { # name binary config env -> sets port_<name>, kport_<name>, pid
	local h k
	h=$(freeport)
	k=$(freeport)
	env ${4:-} "$2" serve --data "$work/data-$1" --http-addr "127.0.0.1:$h" --kafka-addr "127.0.0.1:$k" \
		${3:+--config "$3"} > "$work/$1.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		curl -sf "127.0.0.1:$h/readyz" > /dev/null && break
		sleep 0.05
	done
	eval "port_$1=$h kport_$1=$k"
}
start a "$bin_a" "${CONFIG_A:-}" "${ENV_A:-}"
pa=$pid
start b "$bin_b" "${CONFIG_B:-}" "${ENV_B:-}"
pb=$pid
for round in $(seq "${PAIRS:-4}"); do
	for s in a b; do
		eval "h=\$port_$s k=\$kport_$s"
		if [ $s = a ]; then p=$pa; else p=$pb; fi
		curl -sf "127.0.0.1:$h/metrics" > "$work/before"
		t0=$(awk '{print $14 + $15}' "/proc/$p/stat")
		"$bin_a" bench produce --topic ab --acks "${ACKS:-leader}" --client wire --brokers "127.0.0.1:$k" \
			--rate "${RATE:-800000}" --duration "${RUN_SECONDS:-8}s" --quiet --json > "$work/run.json"
		t1=$(awk '{print $14 + $15}' "/proc/$p/stat")
		curl -sf "127.0.0.1:$h/metrics" > "$work/after"
		PYTHONPATH=bench python3 - "$work" "$round$s" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
from histq import hist, ms, quantile
work, name, t0, t1, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.load(open(work + '/run.json'))
b, a = work + '/before', work + '/after'
def q(metric, labels, at):
    return ms(quantile(hist(b, metric, labels), hist(a, metric, labels), at)[0])
srv = lambda at: q('millrace_kafka_request_duration_seconds', {'api': 'Produce'}, at)
fs = lambda at: q('millrace_fsync_duration_seconds', {'shard': '0'}, at)
print(f"{name}: client p50 {r['P50']/1000:.2f} p99 {r['P99']/1000:.2f} p99.9 {r['P999']/1000:.2f} ms, "
      f"from the send p99 {r['ServiceP99']/1000:.2f} ms | server p50 {srv(.5)} p99 {srv(.99)} | "
      f"fsync p50 {fs(.5)} p99 {fs(.99)} | CPU {(t1 - t0) / hz / max(r['Records'], 1) * 1e6:.2f} µs per record")
PY
	done
done
