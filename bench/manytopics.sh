#!/usr/bin/env bash
# 100,000 topics (issue 6): creates N topics (default 100000) of one
# partition each on a fresh millrace server over the Kafka protocol, then
# reports the server's resident memory, kills it with SIGKILL and measures
# the restart to ready (GET /readyz answering 200) and the memory after the
# restart. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/millrace" ./cmd/millrace
go build -o "$work/manytopics" ./bench/manytopics
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
hport=$(port) kport=$(port)
serve() {
	"$work/millrace" serve --data "$work/data" --http-addr "127.0.0.1:$hport" --kafka-addr "127.0.0.1:$kport" >> "$work/server.log" 2>&1 &
	pid=$!
}
ready() { # prints seconds from $1 (epoch ns) to ready
	for _ in $(seq 6000); do
		if curl -sf "127.0.0.1:$hport/readyz" > /dev/null; then
			python3 -c "import time; print(f'{(time.time_ns()-$1)/1e9:.2f}')"
			return
		fi
		sleep 0.01
	done
	echo "server not ready after 60 s" >&2; exit 1
}
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' /proc/$pid/status; }
serve; ready "$(date +%s%N)" > /dev/null
"$work/manytopics" --brokers "127.0.0.1:$kport" --n "$n"
sleep 1
rss_created=$(rss)
kill -9 $pid; wait $pid 2>/dev/null || true
t0=$(date +%s%N); serve; restart=$(ready "$t0")
sleep 1
rss_restarted=$(rss)
topics=$(curl -s "127.0.0.1:$hport/v1/topics" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["topics"]))')
echo "| topics | RSS after creating | restart to ready (after kill -9) | RSS after restart | topics listed after restart | manifest size |"
echo "|---|---|---|---|---|---|"
echo "| $n | ${rss_created} MiB | ${restart} s | ${rss_restarted} MiB | $topics | $(du -h "$work/data/manifest.db" | cut -f1) |"
