#!/usr/bin/env bash
# kcat (librdkafka, Debian package kcat) against a `millrace serve` binary
# built from this repository: for each codec, produce keyed records with a
# header (-z CODEC), consume them back to the end (-e) and compare; then
# read back records from sealed segments whose index entries left memory.
set -euo pipefail
cd "$(dirname "$0")"
command -v kcat >/dev/null || { echo "kcat is not installed (apt-get install kcat)" >&2; exit 1; }
# 1 MiB segments (the smallest allowed), so that the last step's records
# fill sealed segments, read back from their index files.
SERVE_CONFIG='segment_bytes: 1MiB'
source ../serve.sh
passed=0 failed=0
for codec in none gzip snappy lz4 zstd; do
	topic="kcat-$codec"
	sent="$tmp/$topic.sent" got="$tmp/$topic.got"
	for i in $(seq 1 300); do
		case $((i % 25)) in
		7) echo "key-$((i % 10)):" ;;
		*) echo "key-$((i % 10)):value-$i-$(head -c $((i % 60)) /dev/zero | tr '\0' x)" ;;
		esac
	done >"$sent"
	kcat -b "$KAFKA_ADDR" -t "$topic" -P -z "$codec" -K: -H origin=kcat -X acks=all -X allow.auto.create.topics=true <"$sent"
	kcat -b "$KAFKA_ADDR" -t "$topic" -C -e -o beginning -f '%k:%s\n' -q >"$got"
	if diff <(sort "$sent") <(sort "$got") >/dev/null; then
		passed=$((passed + 1))
	else
		echo "FAIL: $codec: consumed records differ from produced ones" >&2
		failed=$((failed + 1))
	fi
done
# Records in sealed segments: about 4 MiB, read from the beginning once the
# sealed segments' entries have left memory (read back from their index
# files, as the server's metrics must show).
sent="$tmp/sealed.sent" got="$tmp/sealed.got"
pad=$(head -c 1000 /dev/zero | tr '\0' y)
for i in $(seq 1 4000); do echo "k$((i % 7)):$i-$pad"; done >"$sent"
kcat -b "$KAFKA_ADDR" -t kcat-sealed -P -K: -X acks=all -X allow.auto.create.topics=true -X batch.num.messages=100 <"$sent"
metric() { curl -sf "http://$HTTP_ADDR/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
for _ in $(seq 50); do
	inmem=$(metric millrace_index_batches_in_memory) all=$(metric millrace_index_batches)
	python3 -c "import sys; sys.exit(0 if float('$inmem') * 2 < float('$all') else 1)" && break
	sleep 0.1
done
kcat -b "$KAFKA_ADDR" -t kcat-sealed -C -e -o beginning -f '%k:%s\n' -q >"$got"
loads=$(metric millrace_index_cache_loads_total)
if cmp -s "$sent" "$got" && python3 -c "import sys; sys.exit(0 if float('$loads') > 0 else 1)"; then
	passed=$((passed + 1))
else
	echo "FAIL: sealed segments: $(wc -l <"$got") of 4000 records read back in order; $loads segments' index entries read back; $inmem of $all batches in memory" >&2
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
