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
# $work/server.log, and waits until it is ready (serve, below, starts any
# binary so). On exit every server still running is killed and $work
# removed.
# READY_POLLS (default 200) is how many times, 50 ms apart, to ask whether
# the server is ready before giving up.
# MILLRACE_BIN, if set, is run instead of a build of the working tree: to
# compare two builds side by side, alternate runs of each.
[ -x "$(command -v go)" ] || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d)
pid=
# On exit every server still running (the shell's background jobs) is
# killed; one a script stopped and reaped itself is no longer among them.
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# cputicks prints a server's CPU time so far (user + system, in clock
# ticks of getconf CLK_TCK), from /proc: the given PID's, else $pid's.
cputicks() { awk '{print $14 + $15}' "/proc/${1:-$pid}/stat"; }

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
	serve "$work/millrace" "" "$@"
}

# serve BINARY NAME [serve flags...] starts `BINARY serve` with SERVER_ENV
# on free ports, its data in $work/data-NAME and its log in
# $work/server-NAME.log ($work/data and $work/server.log for an empty
# NAME), sets $port, $kport and $pid, and waits until it is ready. A script
# comparing servers calls it once for each.
serve() {
	local bin=$1 suffix=${2:+-$2}
	shift 2
	port=$(freeport)
	kport=$(freeport)
	env ${SERVER_ENV:-} "$bin" serve --data "$work/data$suffix" --http-addr "127.0.0.1:$port" \
		--kafka-addr "127.0.0.1:$kport" "$@" > "$work/server$suffix.log" 2>&1 &
	pid=$!
	for _ in $(seq "${READY_POLLS:-200}"); do
		curl -sf "127.0.0.1:$port/readyz" > /dev/null && return 0
		sleep 0.05
	done
	echo "millrace did not become ready in $((${READY_POLLS:-200} / 20)) s; see its log:" >&2
	tail -20 "$work/server$suffix.log" >&2
	return 1
}
