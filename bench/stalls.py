#!/usr/bin/env python3
"""Where a Kafka connection's reader lost time (issue 6).

    curl -s 127.0.0.1:PPROF/debug/pprof/trace?seconds=8 > trace.out   # pprof_addr set
    go tool trace -d=parsed trace.out | python3 bench/stalls.py [MIN_MS]

It reads the parsed events of a Go execution trace, takes the goroutine
that waited on the network most often with kafka.(*conn).readLoop on its
stack (the busiest connection's reader), and finds every stretch of at
least MIN_MS (default 1) milliseconds in which it did not run. For the 15
longest it prints how the reader left off (waiting for the network, in a
system call and where) and which goroutines ran meanwhile, for how long,
and where they left off: the flusher (commitlog.(*Log).run, writeChunk),
the index writer (buildIndex), the dropper (dropper), the collector (GC
workers, the background sweeper in runtime.Gosched). A stretch in which
nothing of the server ran is the machine's: the client, the kernel, the
host. BENCHMARKS.md's seventh pass quotes it.

    go tool trace -d=parsed trace.out | python3 bench/stalls.py --syscalls

instead times the server's system calls, from each goroutine's entry into
a call to its return, grouped by the first two millrace functions on the
stack (vfs.osFile.Sync < commitlog.(*Log).flush is the flusher's fdatasync,
vfs.osFile.DropCacheRange < commitlog.(*Log).dropper the page-cache drop),
with count, p50, p99 and maximum.
"""
import collections
import re
import sys

EVENT = re.compile(r'^M=(-?\d+) P=(-?\d+) G=(-?\d+) StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+) Reason="([^"]*)"')
SKIP = ("runtime.", "internal/", "sync.", "bufio.", "net.", "io.", "syscall.", "os.")


def read(lines):
    """Returns the state transitions: [time, goroutine, from, to, reason,
    first frame outside the runtime, readLoop on the stack, the first two
    millrace frames]."""
    events, last = [], None
    for line in lines:
        if line.startswith("M="):
            last = None
            m = EVENT.match(line)
            if m:
                _, _, _, t, goid, fr, to, reason = m.groups()
                last = [int(t), int(goid), fr, to, reason, "", False, []]
                events.append(last)
        elif last is not None and line.startswith("\t") and not line.startswith("\t\t"):
            fn = line.strip().split(" @ ")[0]
            if not last[5] and not fn.startswith(SKIP):
                last[5] = fn
            if "kafka.(*conn).readLoop" in fn:
                last[6] = True
            if fn.startswith("github.com/millrace/") and len(last[7]) < 2:
                last[7].append(fn.split("/")[-1])
    return events


def syscalls(lines):
    events = read(lines)
    entered, took = {}, collections.defaultdict(list)
    for t, g, fr, to, _, _, _, frames in events:
        if fr == "Running" and to == "Syscall":
            entered[g] = (t, " < ".join(frames) or "(outside millrace)")
        elif fr == "Syscall" and g in entered:
            t0, site = entered.pop(g)
            took[site].append(t - t0)
    for site, v in sorted(took.items(), key=lambda kv: -sum(kv[1]))[:15]:
        v.sort()
        print(f"{site[:80]:80s} n={len(v):7d} p50={v[len(v) // 2] / 1e3:8.1f} µs "
              f"p99={v[min(len(v) - 1, int(len(v) * .99))] / 1e3:8.1f} µs max={v[-1] / 1e3:8.1f} µs")


def main(lines, min_ms):
    events = read(lines)
    readers = collections.Counter(e[1] for e in events if e[6] and e[4] == "network")
    if not readers:
        sys.exit("no Kafka connection reader in the trace")
    target = readers.most_common(1)[0][0]
    running, runs, gaps, left = {}, [], [], None
    for t, g, fr, to, reason, site, _, _ in events:
        if to == "Running":
            running[g] = t
            if g == target and left is not None:
                if t - left[0] >= min_ms * 1e6:
                    gaps.append((left[0], t, left[1]))
                left = None
        elif fr == "Running":
            if g in running:
                runs.append((running.pop(g), t, g, site or reason))
            if g == target:
                left = (t, f"{to.lower()} {reason + ' ' if reason else ''}at {site}")
    t0 = events[0][0]
    print(f"reader G{target}: {len(gaps)} stretches of {min_ms} ms or more not running, "
          f"{sum(e - s for s, e, _ in gaps) / 1e6:.1f} ms in all, over {(events[-1][0] - t0) / 1e9:.1f} s")
    for s, e, why in sorted(gaps, key=lambda x: x[0] - x[1])[:15]:
        print(f"\n{(s - t0) / 1e6:9.2f} ms: {(e - s) / 1e6:6.2f} ms, left off {why}")
        busy = collections.Counter()
        for rs, re_, g, site in runs:
            overlap = min(re_, e) - max(rs, s)
            if overlap > 0:
                busy[(g, site)] += overlap
        for (g, site), ns in busy.most_common(5):
            print(f"    G{g:<6} ran {ns / 1e6:6.2f} ms, left off at {site}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--syscalls"]:
        syscalls(sys.stdin)
    else:
        main(sys.stdin, float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
