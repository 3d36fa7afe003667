#!/usr/bin/env python3
"""Quantiles of what a run added to millrace's Prometheus histograms.

    python3 bench/histq.py BEFORE AFTER

BEFORE and AFTER are two scrapes of /metrics, taken before and after a run.
It prints, for the Produce request time, the fsync time and the flush write
time, the count the run added and the upper bound of the bucket holding its
p50, p99 and p99.9 (buckets are each 1.5x the last). bench/latency.sh and
bench/acksall.sh import hist and quantile from here; floor.sh and ab.sh,
run_quantile.
"""
import re
import sys

PRODUCE = ("millrace_kafka_request_duration_seconds", {"api": "Produce"})
FSYNC = ("millrace_fsync_duration_seconds", {"shard": "0"})
SERIES = (
    ("Produce requests",) + PRODUCE,
    ("fsync",) + FSYNC,
    ("flush writes", "millrace_flush_write_duration_seconds", {"shard": "0"}),
)


def hist(path, name, labels):
    """Cumulative bucket counts {le: count} of one histogram series."""
    out = {}
    pat = re.compile(r"^" + name + r"_bucket\{(.*)\} (\S+)$")
    for line in open(path):
        m = pat.match(line.strip())
        if not m:
            continue
        lab = {k: v.strip('"') for k, v in (kv.split("=", 1) for kv in re.findall(r'\w+="[^"]*"', m.group(1)))}
        if any(lab.get(k) != v for k, v in labels.items()):
            continue
        out[float("inf") if lab["le"] == "+Inf" else float(lab["le"])] = float(m.group(2))
    return out


def quantile(before, after, q):
    """(upper bound of the bucket holding quantile q of what the run added, count added)."""
    les = sorted(after)
    delta = [after[le] - before.get(le, 0) for le in les]
    total = delta[-1] if delta else 0
    if total == 0:
        return None, 0
    for le, c in zip(les, delta):
        if c >= q * total:
            return le, int(total)
    return les[-1], int(total)


def run_quantile(before_path, after_path, series, q):
    """Upper bound of the bucket holding quantile q of what a run added to
    series (PRODUCE, FSYNC, ...), from scrapes at before_path and after_path."""
    name, labels = series
    return quantile(hist(before_path, name, labels), hist(after_path, name, labels), q)[0]


def ms(v):
    if v is None:
        return "—"
    return "> top bucket" if v == float("inf") else f"≤ {v * 1000:.2f} ms"


def main(before, after):
    for label, name, labels in SERIES:
        b, a = hist(before, name, labels), hist(after, name, labels)
        cells = []
        n = 0
        for q in (0.5, 0.99, 0.999):
            v, n = quantile(b, a, q)
            cells.append(f"p{q * 100:g} {ms(v)}")
        print(f"{label}: {n:,} | " + " | ".join(cells))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
