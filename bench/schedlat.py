#!/usr/bin/env python3
"""How long goroutines waited for a thread, by who woke them (issue 6).

    curl -s 127.0.0.1:PPROF/debug/pprof/trace?seconds=4 > trace.out   # pprof_addr set
    go tool trace -d=parsed trace.out | python3 bench/schedlat.py

It reads the parsed events of a Go execution trace and, for every goroutine
that became runnable and then ran, takes the time between the two. The
delays are grouped by the first frame outside the runtime in the stack of
the event that made the goroutine runnable (for a wake-up, the waker's:
commitlog.(*Log).complete is the flusher finishing a group commit), and
printed with their count, sum, p50, p99 and maximum, and the share run on
the waker's own P. BENCHMARKS.md's sixth pass quotes it.
"""
import collections
import re
import sys

EVENT = re.compile(r"^M=(-?\d+) P=(-?\d+) G=(-?\d+) StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+)")
SKIP = ("runtime.", "internal/", "sync.")


def main(lines):
    waiting = {}  # goroutine -> [became runnable at, wake site, waker's P]
    delays = collections.defaultdict(list)  # site -> [(ns, ran on the waker's P)]
    last = None  # the runnable event whose stack is being read
    for line in lines:
        if line.startswith("M="):
            last = None
            m = EVENT.match(line)
            if not m:
                continue
            _, p, _, t, goid, _, to = m.groups()
            if to == "Runnable":
                last = waiting[int(goid)] = [int(t), "?", int(p)]
            elif to == "Running" and int(goid) in waiting:
                t0, site, wp = waiting.pop(int(goid))
                delays[site].append((int(t) - t0, wp == int(p)))
        elif last is not None and line.startswith("\t") and not line.startswith("\t\t"):
            fn = line.strip().split(" @ ")[0]
            if last[1] == "?" and not fn.startswith(SKIP):
                last[1] = fn

    def at(v, q):
        return v[min(len(v) - 1, int(len(v) * q))]

    rows = sorted(delays.items(), key=lambda kv: -sum(d for d, _ in kv[1]))
    for site, v in rows[:12]:
        ds = sorted(d for d, _ in v)
        same = sum(1 for _, s in v if s) / len(v)
        print(f"{site[-60:]:60s} n={len(v):7d} sum={sum(ds) / 1e6:9.1f} ms p50={at(ds, .5) / 1e3:7.1f} µs "
              f"p99={at(ds, .99) / 1e3:8.1f} µs max={ds[-1] / 1e3:8.1f} µs on the waker's P {same:.2f}")


if __name__ == "__main__":
    main(sys.stdin)
