#!/usr/bin/env bash
# Side by side (issue 6): millrace over the Kafka protocol against NATS
# JetStream, on this machine, back to back, 128-byte records, the clients on
# the same machine, everything on 127.0.0.1 (free ports, temporary data
# directories removed at the end).
#
#   millrace   Kafka produce acks=all (fsync before ack), 8 partitions;
#              catch-up consume of what it wrote; produce acks=leader (ack
#              from memory) for reference. Client: `millrace bench` (franz-go);
#              then acks=all produce and consume again with `--client wire`,
#              the bench's own minimal Kafka client.
#   JetStream  file storage, the server's default sync_interval (2 min: acks
#              before fsync) and `sync_interval: always` (fsync before ack):
#              async publish (batches of 500 in flight), sync publish, and an
#              ordered consumer. Client: `nats bench` (natscli).
#
# nats-server and natscli are installed with `go install` at the pinned
# versions below (skipped when those versions are already there). Prints one
# markdown table on stdout; the raw outputs stay in the results directory it
# names. Every step has a time limit; a failed step is reported and shown as
# "failed" in the table, and the script then exits non-zero.
#
# Environment:
#   COUNT         records per run (default 2000000)
#   SYNC_COUNT    NATS sync-publish messages (default 50000; slow, one round trip each)
#   ALWAYS_COUNT  NATS async-publish messages with sync_interval: always
#                 (default 200000, at most COUNT: it runs at the fsync rate,
#                 about 5,000 msg/s here, so COUNT would take minutes)
#   RESULTS_DIR   where raw outputs go (default ${TMPDIR:-/tmp}/millrace-compare-<time>)
#   NATS_BIN_DIR  where nats-server and nats are installed
#                 (default $(go env GOPATH)/bin/millrace-compare)
#   STEP_TIMEOUT  seconds allowed to each benchmark step (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v go > /dev/null || PATH=/usr/local/go/bin:$PATH

NATS_SERVER_VERSION=v2.15.2
NATSCLI_VERSION=v0.5.1

count=${COUNT:-2000000}
sync_count=${SYNC_COUNT:-50000}
always_count=${ALWAYS_COUNT:-200000}
((sync_count > count)) && sync_count=$count
((always_count > count)) && always_count=$count
size=128
step_timeout=${STEP_TIMEOUT:-300}
results=${RESULTS_DIR:-${TMPDIR:-/tmp}/millrace-compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$results"
work=$(mktemp -d "${TMPDIR:-/tmp}/millrace-compare-work.XXXXXX")

pids=()      # servers started by this script, still running
child=       # the benchmark step running now
failures=()

stop_pid() { # stop_pid PID: TERM, up to 15 s, then KILL; reap it
	local p=$1
	kill -TERM "$p" 2> /dev/null || return 0
	for _ in $(seq 150); do
		kill -0 "$p" 2> /dev/null || break
		sleep 0.1
	done
	kill -KILL "$p" 2> /dev/null || true
	wait "$p" 2> /dev/null || true
}
forget_pid() { # drop PID from pids once it is stopped (its number may be reused)
	local keep=() p
	for p in "${pids[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
}
cleanup() {
	local rc=$?
	set +e
	[[ -n $child ]] && kill -TERM "$child" 2> /dev/null && wait "$child" 2> /dev/null
	for p in "${pids[@]}"; do stop_pid "$p"; done
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'echo "compare.sh: interrupted" >&2; exit 130' INT TERM HUP

log() { echo "[$(date +%T)] $*" >&2; }
fail() { # fail STEP MESSAGE
	failures+=("$1: $2")
	echo "FAILED: $1: $2" >&2
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# run STEP SECONDS CMD...: stdout to $results/STEP.out, stderr to STEP.err.
# Runs in the background and is waited for, so that a signal reaches the
# traps at once; timeout(1) passes TERM on to the command.
run() {
	local name=$1 secs=$2 rc=0
	shift 2
	log "$name"
	timeout --kill-after=10 "$secs" "$@" > "$results/$name.out" 2> "$results/$name.err" &
	child=$!
	wait "$child" || rc=$?
	child=
	if ((rc != 0)); then
		if ((rc == 124 || rc == 137)); then
			fail "$name" "timed out after ${secs}s"
		else
			fail "$name" "exit status $rc"
		fi
		tail -n 5 "$results/$name.err" | sed 's/^/    /' >&2
		return 1
	fi
}

# ---- 1. nats-server and natscli at pinned versions --------------------------
bindir=${NATS_BIN_DIR:-$(go env GOPATH)/bin/millrace-compare}
mkdir -p "$bindir"
has_version() { # has_version BINARY MODULE VERSION
	[[ -x $1 ]] && go version -m "$1" 2> /dev/null | awk -v m="$2" -v v="$3" '$1 == "mod" && $2 == m && $3 == v {ok = 1} END {exit !ok}'
}
install_pinned() { # install_pinned BINARY MODULE PACKAGE VERSION
	if has_version "$bindir/$1" "$2" "$4"; then
		log "$1 $4 already in $bindir"
		return 0
	fi
	log "installing $3@$4 into $bindir (go install; a minute or two)"
	if ! GOBIN=$bindir timeout 900 go install "$3@$4" > "$results/install-$1.log" 2>&1; then
		echo "FAILED: go install $3@$4; see $results/install-$1.log:" >&2
		tail -n 20 "$results/install-$1.log" >&2
		exit 1
	fi
	has_version "$bindir/$1" "$2" "$4" || { echo "FAILED: $bindir/$1 is not $2 $4 after go install" >&2; exit 1; }
}
install_pinned nats-server github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
install_pinned nats github.com/nats-io/natscli github.com/nats-io/natscli/nats "$NATSCLI_VERSION"
nats_server=$bindir/nats-server
nats=$bindir/nats

# ---- 2. millrace ------------------------------------------------------------
log "building millrace"
if ! timeout 600 go build -o "$work/millrace" ./cmd/millrace > "$results/build.log" 2>&1; then
	echo "FAILED: go build ./cmd/millrace:" >&2
	cat "$results/build.log" >&2
	exit 1
fi

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -srm), $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
	echo "go: $(go version)"
	echo "millrace: $("$work/millrace" version 2> /dev/null || echo "built from $(pwd)")"
	echo "nats-server: $("$nats_server" --version)"
	echo "natscli: $("$nats" --version 2>&1)"
	echo "COUNT=$count SYNC_COUNT=$sync_count ALWAYS_COUNT=$always_count record size=$size B"
	echo "loadavg at start: $(cat /proc/loadavg)"
} > "$results/environment.txt"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

mdir=$work/millrace-data
hport=$(free_port)
kport=$(free_port)
log "starting millrace serve (http 127.0.0.1:$hport, kafka 127.0.0.1:$kport)"
"$work/millrace" serve --data "$mdir" --http-addr "127.0.0.1:$hport" --kafka-addr "127.0.0.1:$kport" \
	> "$results/millrace-server.log" 2>&1 &
mpid=$!
pids+=("$mpid")
ready=no
for _ in $(seq 200); do
	kill -0 "$mpid" 2> /dev/null || break
	if curl -sf "127.0.0.1:$hport/readyz" > /dev/null && port_open "$kport"; then
		ready=yes
		break
	fi
	sleep 0.05
done
if [[ $ready == yes ]]; then
	mb=("$work/millrace" bench --brokers "127.0.0.1:$kport" --server "http://127.0.0.1:$hport" --record-size "$size" --json)
	run millrace-produce-acks-all "$step_timeout" "${mb[@]}" produce --topic durable --acks all --partitions 8 --count "$count" &&
		run millrace-consume "$step_timeout" "${mb[@]}" consume --topic durable --count "$count" || true
	run millrace-produce-acks-leader "$step_timeout" "${mb[@]}" produce --topic leader --acks leader --partitions 8 --count "$count" || true
	# The same server measured with the bench's own minimal Kafka client,
	# which spends far less of the shared CPU than franz-go (docs/cli.md).
	run millrace-wire-produce-acks-all "$step_timeout" "${mb[@]}" produce --client wire --topic wire --acks all --partitions 8 --count "$count" &&
		run millrace-wire-consume "$step_timeout" "${mb[@]}" consume --client wire --topic wire --count "$count" || true
	kill -0 "$mpid" 2> /dev/null || fail millrace-server "the server exited during the run; see $results/millrace-server.log"
else
	fail millrace-server "not ready within 10 s; see $results/millrace-server.log"
	tail -n 20 "$results/millrace-server.log" >&2
fi
stop_pid "$mpid"
forget_pid "$mpid"
rm -rf "$mdir"

# ---- 3. NATS JetStream --------------------------------------------------------
# nats_mode MODE SYNC_LINE: a fresh server with its own store directory.
maxbytes="$((count * 512 / 1000000000 + 1))GB" # stream limit, well above COUNT records
nats_mode() {
	local mode=$1 sync=$2 port sdir npid
	port=$(free_port)
	sdir=$work/nats-$mode
	mkdir -p "$sdir"
	cat > "$sdir/nats.conf" <<-CONF
		listen: 127.0.0.1:$port
		jetstream {
		  store_dir: "$sdir/store"
		  $sync
		}
	CONF
	cp "$sdir/nats.conf" "$results/nats-$mode.conf"
	log "starting nats-server ($mode, 127.0.0.1:$port)"
	"$nats_server" -c "$sdir/nats.conf" > "$results/nats-$mode-server.log" 2>&1 &
	npid=$!
	pids+=("$npid")
	local ready=no
	for _ in $(seq 200); do
		kill -0 "$npid" 2> /dev/null || break
		port_open "$port" && { ready=yes; break; }
		sleep 0.05
	done
	if [[ $ready == no ]]; then
		fail "nats-$mode-server" "not ready within 10 s; see $results/nats-$mode-server.log"
		tail -n 20 "$results/nats-$mode-server.log" >&2
	else
		local nb=("$nats" --server "nats://127.0.0.1:$port" --no-context bench js) opts=(--size "$size" --no-progress)
		local n=$count
		[[ $mode == always ]] && n=$always_count
		if run "nats-$mode-pub-async" "$step_timeout" "${nb[@]}" pub async bench.msgs "${opts[@]}" --create --storage file --maxbytes "$maxbytes" --purge --msgs "$n"; then
			if [[ $mode == default ]]; then
				run "nats-$mode-ordered" "$step_timeout" "${nb[@]}" ordered "${opts[@]}" --msgs "$n" || true
			fi
		fi
		run "nats-$mode-pub-sync" "$step_timeout" "${nb[@]}" pub sync bench.msgs "${opts[@]}" --create --storage file --maxbytes "$maxbytes" --purge --msgs "$sync_count" || true
		kill -0 "$npid" 2> /dev/null || fail "nats-$mode-server" "the server exited during the run; see $results/nats-$mode-server.log"
	fi
	stop_pid "$npid"
	forget_pid "$npid"
	rm -rf "$sdir"
}
nats_mode default "# sync_interval: default (2m): acks before fsync"
nats_mode always "sync_interval: always"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "loadavg at end: $(cat /proc/loadavg)" >> "$results/environment.txt"

# ---- 4. the table -------------------------------------------------------------
python3 - "$results" "$count" "$sync_count" "$always_count" "$load_start" "$load_end" \
	"$NATS_SERVER_VERSION" "$NATSCLI_VERSION" > "$results/table.md" <<'PY'
import json, os, re, sys
res, count, sync_count, always_count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
load_start, load_end, nsv, ncv = sys.argv[5:9]

def text(name):
    out = ""
    for ext in (".out", ".err"):
        p = os.path.join(res, name + ext)
        if os.path.exists(p):
            out += open(p, errors="replace").read()
    return out

def millrace(name):
    try:
        r = json.load(open(os.path.join(res, name + ".out")))
    except Exception:
        return None
    if r.get("Errors"):
        return None
    lat = lambda v: v / 1000 if v else None
    return dict(rate=r["RecordsPerSec"], n=r["Records"], p50=lat(r.get("P50")), p99=lat(r.get("P99")))

def nats(name, n):
    if not os.path.exists(os.path.join(res, name + ".out")):
        return None
    t = text(name)
    m = re.search(r"stats: ([\d,.]+) msgs/sec", t)
    if not m:
        return None
    num = lambda s: float(s.replace(",", ""))
    p50 = re.search(r"P50: ([\d,.]+)us", t)
    p99 = re.search(r"P99: ([\d,.]+)us", t)
    return dict(rate=num(m.group(1)), n=n, p50=num(p50.group(1)) / 1000 if p50 else None,
                p99=num(p99.group(1)) / 1000 if p99 else None)

rows = [
    ("millrace", "Kafka produce, acks=all, 8 partitions", "fsync before ack", millrace("millrace-produce-acks-all"), "millrace-produce-acks-all"),
    ("millrace", "Kafka produce, acks=leader, 8 partitions", "ack from memory", millrace("millrace-produce-acks-leader"), "millrace-produce-acks-leader"),
    ("millrace", "Kafka consume, catch-up", "", millrace("millrace-consume"), "millrace-consume"),
    ("millrace, wire client", "Kafka produce, acks=all, 8 partitions", "fsync before ack", millrace("millrace-wire-produce-acks-all"), "millrace-wire-produce-acks-all"),
    ("millrace, wire client", "Kafka consume, catch-up", "", millrace("millrace-wire-consume"), "millrace-wire-consume"),
    ("NATS JetStream", "async publish, default", "ack before fsync (sync every 2 min)", nats("nats-default-pub-async", count), "nats-default-pub-async"),
    ("NATS JetStream", "sync publish, default", "ack before fsync (sync every 2 min)", nats("nats-default-pub-sync", sync_count), "nats-default-pub-sync"),
    ("NATS JetStream", "ordered consumer", "", nats("nats-default-ordered", count), "nats-default-ordered"),
    ("NATS JetStream", "async publish, sync_interval: always", "fsync before ack", nats("nats-always-pub-async", always_count), "nats-always-pub-async"),
    ("NATS JetStream", "sync publish, sync_interval: always", "fsync before ack", nats("nats-always-pub-sync", sync_count), "nats-always-pub-sync"),
]
by = {r[4]: r[3] for r in rows}
def ratio(a, b, what):
    if by.get(a) and by.get(b) and by[b]["rate"] > 0:
        return f"{by[a]['rate'] / by[b]['rate']:.1f}× {what}"
    return None
ratios = {
    "millrace-produce-acks-all": [ratio("millrace-produce-acks-all", "nats-default-pub-async", "NATS async publish (default)"),
                                  ratio("millrace-produce-acks-all", "nats-always-pub-async", "NATS async publish (sync_interval: always)")],
    "millrace-produce-acks-leader": [ratio("millrace-produce-acks-leader", "nats-default-pub-async", "NATS async publish (default)")],
    "millrace-consume": [ratio("millrace-consume", "nats-default-ordered", "NATS ordered consumer")],
    "millrace-wire-produce-acks-all": [ratio("millrace-wire-produce-acks-all", "nats-default-pub-async", "NATS async publish (default)")],
    "millrace-wire-consume": [ratio("millrace-wire-consume", "nats-default-ordered", "NATS ordered consumer")],
}
ms = lambda v: f"{v:,.2f} ms" if v is not None else "—"
print(f"| system | mode | acknowledged | records | records/s | p50 | p99 | ratio |")
print(f"|---|---|---|---:|---:|---:|---:|---|")
for system, mode, ack, r, key in rows:
    rat = "; ".join(x for x in ratios.get(key, []) if x) or ""
    if r is None:
        state = "failed" if os.path.exists(os.path.join(res, key + ".err")) else "not run"
        print(f"| {system} | {mode} | {ack} | — | {state} | — | — | |")
    else:
        print(f"| {system} | {mode} | {ack} | {r['n']:,} | {r['rate']:,.0f} | {ms(r['p50'])} | {ms(r['p99'])} | {rat} |")
print()
print(f"128-byte records, clients on the same machine, 127.0.0.1. Load average (1, 5, 15 min) at start {load_start}, at end {load_end}.")
print(f"nats-server {nsv}, natscli {ncv}. millrace: `millrace bench` (franz-go, 2 producer clients, linger 0, GC target 400 in the client; "
      f"the wire-client rows: `--client wire`, 2 connections of 5 requests in flight); "
      f"latency per record from Produce to its ack. NATS: `nats bench js` (1 client); async publish keeps 500 messages in flight "
      f"and its latency is per batch of 500; sync publish latency is per message.")
PY
cat "$results/table.md"
echo
echo "raw outputs: $results"
if ((${#failures[@]} > 0)); then
	echo "FAILED steps:" >&2
	printf '  %s\n' "${failures[@]}" >&2
	exit 1
fi
