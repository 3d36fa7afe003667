#!/usr/bin/env bash
# kcat (librdkafka, Debian package kcat) against a `millrace serve` binary
# built from this repository: for each codec, produce keyed records with a
# header (-z CODEC), consume them back to the end (-e) and compare.
set -euo pipefail
cd "$(dirname "$0")"
command -v kcat >/dev/null || { echo "kcat is not installed (apt-get install kcat)" >&2; exit 1; }
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
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
