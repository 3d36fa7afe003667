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
. bench/lib.sh
if [ -z "${BIN_A:-}" ] || [ -z "${BIN_B:-}" ]; then
	build_millrace
fi
bin_a=${BIN_A:-$work/millrace}
bin_b=${BIN_B:-$work/millrace}
SERVER_ENV=${ENV_A:-} serve "$bin_a" a ${CONFIG_A:+--config "$CONFIG_A"}
pa=$pid port_a=$port kport_a=$kport
SERVER_ENV=${ENV_B:-} serve "$bin_b" b ${CONFIG_B:+--config "$CONFIG_B"}
pb=$pid port_b=$port kport_b=$kport
for round in $(seq "${PAIRS:-4}"); do
	for s in a b; do
		eval "h=\$port_$s k=\$kport_$s"
		if [ $s = a ]; then p=$pa; else p=$pb; fi
		curl -sf "127.0.0.1:$h/metrics" > "$work/before"
		t0=$(cputicks "$p")
		"$bin_a" bench produce --topic ab --acks "${ACKS:-leader}" --client wire --brokers "127.0.0.1:$k" \
			--rate "${RATE:-800000}" --duration "${RUN_SECONDS:-8}s" --quiet --json > "$work/run.json"
		t1=$(cputicks "$p")
		curl -sf "127.0.0.1:$h/metrics" > "$work/after"
		PYTHONPATH=bench python3 - "$work" "$round$s" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, sys
from histq import FSYNC, PRODUCE, ms, run_quantile
work, name, t0, t1, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.load(open(work + '/run.json'))
b, a = work + '/before', work + '/after'
srv = lambda at: ms(run_quantile(b, a, PRODUCE, at))
fs = lambda at: ms(run_quantile(b, a, FSYNC, at))
print(f"{name}: client p50 {r['P50']/1000:.2f} p99 {r['P99']/1000:.2f} p99.9 {r['P999']/1000:.2f} ms, "
      f"from the send p99 {r['ServiceP99']/1000:.2f} ms | server p50 {srv(.5)} p99 {srv(.99)} | "
      f"fsync p50 {fs(.5)} p99 {fs(.99)} | CPU {(t1 - t0) / hz / max(r['Records'], 1) * 1e6:.2f} µs per record")
PY
	done
done
