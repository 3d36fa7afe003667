#!/usr/bin/env bash
# Restart time with data kept (issue 6). Starts millrace on free 127.0.0.1
# ports, fills an 8-partition topic with COUNT records (default 8,000,000
# of 128 bytes: about 1.2 GB) in batches of about 13 (the wire client,
# --batch-bytes BATCH_BYTES, default 2000: many batches, the hard case for
# an index), stops it (SIGTERM), and starts it again on the same data
# ROUNDS times (default 2), each after dropping the page cache (as root;
# COLD=0 keeps it). For each start it prints the time from exec to a ready
# /readyz and the server's own recovery line (segments, of them replayed
# from index files, entries, bytes, took). Compare builds with
# MILLRACE_BIN (bench/lib.sh). Stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
export READY_POLLS=${READY_POLLS:-2400}
. bench/lib.sh
start_millrace
"$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet \
	--topic fill --partitions 8 --batch-bytes "${BATCH_BYTES:-2000}" --acks all --count "${COUNT:-8000000}" > /dev/null
echo "data: $(du -sh "$work/data" | cut -f1), $(ls "$work/data/shards/0" | grep -c '\.log$') segment files" >&2
for round in $(seq "${ROUNDS:-2}"); do
	kill "$pid"
	wait "$pid" || true
	pid=
	if [ "${COLD:-1}" = 1 ]; then
		sync
		echo 3 > /proc/sys/vm/drop_caches
	fi
	t0=$(date +%s%N)
	start_millrace
	t1=$(date +%s%N)
	echo "start $round: ready after $(( (t1 - t0) / 1000000 )) ms;" \
		"$(grep -o 'msg="shard recovered".*' "$work/server.log" | grep -o 'segments=[^ ]* .*took=[^ ]*')"
done
