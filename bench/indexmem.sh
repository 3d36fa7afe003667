#!/usr/bin/env bash
# Memory of the index for many retained batches, and what reading them
# back costs. Starts millrace on free 127.0.0.1 ports (its data in a
# temporary directory, segments of SEGMENT_BYTES, default 64MiB), produces
# COUNT records (default 20,000,000) of 128 bytes to 8 partitions with the
# wire client in small batches (--batch-bytes 2000: about 13 records, so
# some 1.5 M stored batches), acks=1, then prints:
#   - the server's resident memory and Go heap in use (after a GC) once
#     the index files of the sealed segments are written (2 s later);
#   - a catch-up consume of the whole topic from offset 0 with the wire
#     client (records/s),
#     which reads every sealed segment's entries back from its index file;
#   - the same memory figures after a restart, and the restart's time to
#     ready.
# MILLRACE_BIN runs another build (side by side: alternate the two).
# Stops by itself; the data (about 3 GB at the default count) is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
count=${COUNT:-20000000}
cfg="$work/millrace.yaml"
echo "segment_bytes: ${SEGMENT_BYTES:-64MiB}" > "$cfg"
pport=$(freeport)
start_millrace --config "$cfg" --pprof-addr "127.0.0.1:$pport"

memory() { # label
	local rss heap
	curl -sf "127.0.0.1:$pport/debug/pprof/heap?gc=1" > /dev/null # a GC first
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
	heap=$(curl -sf "127.0.0.1:$port/metrics" | awk '/^go_memstats_heap_inuse_bytes / {print $2}')
	python3 -c "print(f'| $1 | {$rss/1024:,.0f} MiB | {float(\"$heap\")/2**20:,.0f} MiB |')"
}
"$work/millrace" bench produce --client wire --brokers "127.0.0.1:$kport" --producers 1 --quiet \
	--topic big --partitions 8 --batch-bytes 2000 --acks leader --count "$count" > /dev/null
sleep 2
batches=$(curl -sf "127.0.0.1:$port/v1/topics/big" | python3 -c 'import json, sys
print(sum(p["batches"] for p in json.load(sys.stdin)["partition_info"]))')
echo "$count records in $batches stored batches"
echo
echo "| when | resident | Go heap in use |"
echo "|---|---|---|"
memory "after producing"
consume=$("$work/millrace" bench consume --client wire --brokers "127.0.0.1:$kport" --topic big --count "$count" --quiet --json |
	python3 -c 'import json, sys; print(int(json.load(sys.stdin)["RecordsPerSec"]))')
memory "after a catch-up consume"
kill "$pid"
wait "$pid" 2>/dev/null || true
t0=$(date +%s.%N)
start_millrace --config "$cfg" --pprof-addr "127.0.0.1:$pport"
t1=$(date +%s.%N)
memory "after a restart"
echo
python3 -c "print(f'catch-up consume: {$consume:,} records/s; restart to ready: {$t1 - $t0:.2f} s')"
