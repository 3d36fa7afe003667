# Sourced by the client scripts under test/: builds millrace, starts
# `millrace serve` on free loopback ports over a temporary data directory,
# and sets KAFKA_ADDR to its Kafka listener and HTTP_ADDR to its HTTP one. The server is stopped (SIGTERM)
# and the directory removed when the sourcing script exits.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tmp=$(mktemp -d)
go build -o "$tmp/millrace" "$root/cmd/millrace"
# SERVE_CONFIG, if set, is the server's configuration file's text (YAML).
printf '%s\n' "${SERVE_CONFIG:-}" >"$tmp/millrace.yaml"
"$tmp/millrace" serve --data "$tmp/data" --http-addr 127.0.0.1:0 --kafka-addr 127.0.0.1:0 --log-format json \
	--config "$tmp/millrace.yaml" 2>"$tmp/server.log" &
server_pid=$!
cleanup() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
KAFKA_ADDR=
for _ in $(seq 100); do
	KAFKA_ADDR=$(grep -o '"kafka_addr":"[^"]*"' "$tmp/server.log" | head -1 | cut -d'"' -f4 || true)
	[ -n "$KAFKA_ADDR" ] && break
	kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log" >&2; echo "millrace serve exited" >&2; exit 1; }
	sleep 0.1
done
[ -n "$KAFKA_ADDR" ] || { cat "$tmp/server.log" >&2; echo "millrace serve did not start" >&2; exit 1; }
HTTP_ADDR=$(grep -o '"http_addr":"[^"]*"' "$tmp/server.log" | head -1 | cut -d'"' -f4 || true)
export KAFKA_ADDR HTTP_ADDR
