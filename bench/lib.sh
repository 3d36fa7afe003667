# Sourced by the single-server scripts here (acksall.sh, bigindex.sh,
# latency.sh, restart.sh), from the repository root:
#
#   . bench/lib.sh
#   start_millrace [serve flags...]
#
# start_millrace builds millrace into a temporary directory ($work) the
# first time, starts `millrace serve` on free 127.0.0.1 ports ($port for
# HTTP, $kport for Kafka) with its data in $work/data, the flags given and
# the environment in SERVER_ENV (say GOMAXPROCS=4), logs to
# $work/server.log, and waits until it is ready. On exit the server ($pid) is killed and $work removed.
# READY_POLLS (default 200) is how many times, 50 ms apart, to ask whether
# the server is ready before giving up.
# MILLRACE_BIN, if set, is run instead of a build of the working tree: to
# compare two builds side by side, alternate runs of each.
[ -x "$(command -v go)" ] || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT

# cputicks prints the server's CPU time so far (user + system, in clock
# ticks of getconf CLK_TCK), from /proc.
cputicks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

build_millrace() {
	if [ -n "${MILLRACE_BIN:-}" ]; then
		cp "$MILLRACE_BIN" "$work/millrace"
	else
		go build -o "$work/millrace" ./cmd/millrace
	fi
}

start_millrace() {
	[ -x "$work/millrace" ] || build_millrace
	port=$(freeport)
	kport=$(freeport)
	env ${SERVER_ENV:-} "$work/millrace" serve --data "$work/data" --http-addr "127.0.0.1:$port" \
		--kafka-addr "127.0.0.1:$kport" "$@" > "$work/server.log" 2>&1 &
	pid=$!
	for _ in $(seq "${READY_POLLS:-200}"); do
		curl -sf "127.0.0.1:$port/readyz" > /dev/null && return 0
		sleep 0.05
	done
	echo "millrace did not become ready in $((${READY_POLLS:-200} / 20)) s; see its log:" >&2
	tail -20 "$work/server.log" >&2
	return 1
}
