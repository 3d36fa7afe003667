#!/usr/bin/env bash
# The floor under produce latency on this machine (issue 6): the same
# client at the same fixed rate against millrace and against two builds of
# bench/nullbroker: "null", a Kafka broker that answers every produce at
# once and keeps nothing, and "nullsync", the smallest durable broker (one
# file, one goroutine writing and fdatasyncing what came since its last
# pass, acks=all answered after the sync). What the client sees against
# the null broker is what the loopback round trip and the scheduling of
# two processes on this machine cost by themselves; nullsync adds what
# writing and syncing on this disk cost; what millrace adds beyond that is
# its own.
#
# Starts millrace and both null brokers on free 127.0.0.1 ports, then runs
# PAIRS (default 3) rounds of: acks=1 against null, nullsync and millrace;
# then acks=all against the same three; RATE records/s
# (default 800,000) for RUN_SECONDS (default 10) each, with the wire client
# (CLIENT, default wire) and BENCH_FLAGS. For each run it prints the
# client's p50, p99 and p99.9 from the intended send time, its p99 from
# the request's actual send, the server's CPU time (user and system, from
# /proc) per record, and (millrace only) the server's own Produce p99 and
# fsync p99 over the run; then the medians by target and acks.
# MILLRACE_BIN and MILLRACE_CONFIG_FILE as in latency.sh. Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${RUN_SECONDS:-10}
rate=${RATE:-800000}
pairs=${PAIRS:-3}
client=${CLIENT:-wire}
. bench/lib.sh
start_millrace ${MILLRACE_CONFIG_FILE:+--config "$MILLRACE_CONFIG_FILE"}
go build -o "$work/nullbroker" ./bench/nullbroker
nport=$(freeport)
sport=$(freeport)
"$work/nullbroker" -addr "127.0.0.1:$nport" 2> "$work/nullbroker.log" &
npid=$!
"$work/nullbroker" -addr "127.0.0.1:$sport" -file "$work/nullsync.log" 2> "$work/nullsync.err" &
spid=$!
for p in "$nport" "$sport"; do
	for _ in $(seq 100); do
		(exec 3<> "/dev/tcp/127.0.0.1/$p") 2> /dev/null && break
		sleep 0.05
	done
done

n=0
run() { # target port pid acks
	n=$((n + 1))
	local f="$work/run$n" t0
	echo "$1 $4" > "$f.name"
	[ "$1" = millrace ] && curl -sf "127.0.0.1:$port/metrics" > "$f.before"
	t0=$(cputicks "$3")
	"$work/millrace" bench produce --topic "floor-$4" --acks "$4" --rate "$rate" --duration "${secs}s" \
		--brokers "127.0.0.1:$2" --producers 1 --client "$client" ${BENCH_FLAGS:-} --quiet --json > "$f.json"
	echo "$t0 $(cputicks "$3") $(getconf CLK_TCK)" > "$f.cpu"
	[ "$1" = millrace ] && curl -sf "127.0.0.1:$port/metrics" > "$f.after"
	echo "run $n: $1 acks=$4 done" >&2
}
for _ in $(seq "$pairs"); do
	for acks in leader all; do
		run null "$nport" "$npid" "$acks"
		run nullsync "$sport" "$spid" "$acks"
		run millrace "$kport" "$pid" "$acks"
	done
done

PYTHONPATH=bench python3 - "$work" "$n" "$rate" "$client" <<'PY'
import json, os, statistics, sys
from histq import FSYNC, PRODUCE, ms, run_quantile
work, n, rate, client = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print(f'{client} client, {rate:,} records/s of 128 B, one producer, client on the same machine')
print()
print('| run | target | acks | client p50 | client p99 | client p99.9 | client p99 from the send | server CPU per record | server Produce p99 | fsync p99 |')
print('|---|---|---|---|---|---|---|---|---|---|')
by = {}
for i in range(1, n + 1):
    f = f'{work}/run{i}'
    target, acks = open(f + '.name').read().split()
    r = json.load(open(f + '.json'))
    srv = fs = '–'
    if os.path.exists(f + '.before'):
        b, a = f + '.before', f + '.after'
        srv, fs = ms(run_quantile(b, a, PRODUCE, 0.99)), ms(run_quantile(b, a, FSYNC, 0.99))
    label = 'acks=1' if acks == 'leader' else 'acks=all'
    sent = r.get('ServiceP99') or 0
    t0, t1, hz = map(int, open(f + '.cpu').read().split())
    cpu = (t1 - t0) / hz / max(r['Records'], 1) * 1e6
    by.setdefault((label, target), []).append((r['P50'], r['P99'], sent, cpu * 1000))
    print(f"| {i} | {target} | {label} | {r['P50']/1000:.2f} ms | {r['P99']/1000:.2f} ms | {r['P999']/1000:.2f} ms | "
          f"{sent/1000:.2f} ms | {cpu:.2f} µs | {srv} | {fs} |")
print()
print('Medians over the runs:')
print()
print('| acks | target | client p50 | client p99 | client p99 from the send | server CPU per record |')
print('|---|---|---|---|---|---|')
order = {'null': 0, 'nullsync': 1, 'millrace': 2}
for (label, target), v in sorted(by.items(), key=lambda kv: (kv[0][0], order[kv[0][1]])):
    med = [statistics.median(x[k] for x in v) / 1000 for k in range(4)]
    print(f'| {label} | {target} | {med[0]:.2f} ms | {med[1]:.2f} ms | {med[2]:.2f} ms | {med[3]:.2f} µs |')
PY
