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
[ -x "$(command -v go)" ] || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/millrace" ./cmd/millrace
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
kport=$(freeport)
env ${SERVER_ENV:-} "$work/millrace" serve --data "$work/data" --http-addr "127.0.0.1:$port" --kafka-addr "127.0.0.1:$kport" \
	${CONFIG:+--config "$CONFIG"} > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 200); do curl -sf "127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.05; done
bench() { "$work/millrace" bench "$@" --brokers "127.0.0.1:$kport" --producers 1 --quiet ${BENCH_FLAGS:-}; }
bench produce --count "${WARMUP:-2000000}" > /dev/null
curl -sf "127.0.0.1:$port/metrics" > "$work/before"
bench "${MODE:-produce}" --rate "${RATE:-1000000}" --duration "${RUN_SECONDS:-8}s" --acks "${ACKS:-all}"
curl -sf "127.0.0.1:$port/metrics" > "$work/after"
python3 bench/histq.py "$work/before" "$work/after"
