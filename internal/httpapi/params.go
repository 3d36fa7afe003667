package httpapi

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of read parameters.
const (
	defaultLimit    = 100
	maxLimit        = 10000
	defaultMaxBytes = 1 << 20
	maxMaxBytes     = 64 << 20
	maxWait         = 5 * time.Minute
)

// How a read's start offset was given.
const (
	startDefault = iota // earliest, or latest when following
	startOffset
	startEarliest
	startLatest
)

// readParams are the query parameters of the read routes.
type readParams struct {
	startKind  int
	offset     int64
	limit      int // 0: unlimited (follow only)
	maxBytes   int
	since      int64 // ms; math.MinInt64 when absent
	until      int64 // ms; math.MaxInt64 when absent
	key        []byte
	hasKey     bool
	durable    bool
	wait       time.Duration
	follow     bool
	hasLimit   bool
	hasSince   bool
	hasUntil   bool
	partitions []int32 // merged reads: which partitions; nil = all
}

// parseReadParams reads the query of a read route; allowed lists the
// parameters that route takes (others are errors, so that a typo is not
// silently ignored).
func parseReadParams(q url.Values, allowed ...string) (readParams, error) {
	p := readParams{limit: defaultLimit, maxBytes: defaultMaxBytes, since: math.MinInt64, until: math.MaxInt64}
	for name := range q {
		if !slices.Contains(allowed, name) {
			return p, badRequest("unknown query parameter %q (this route takes: %s)", name, strings.Join(allowed, ", "))
		}
	}
	one := func(name string) (string, bool) {
		v, ok := q[name]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[len(v)-1], true
	}
	intParam := func(name string, lo, hi int64) (int64, bool, error) {
		s, ok := one(name)
		if !ok {
			return 0, false, nil
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < lo || v > hi {
			return 0, false, badRequest("%s %q: want an integer in %d..%d", name, s, lo, hi)
		}
		return v, true, nil
	}
	if s, ok := one("offset"); ok {
		switch s {
		case "earliest", "beginning":
			p.startKind = startEarliest
		case "latest", "end":
			p.startKind = startLatest
		default:
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil || v < 0 {
				return p, badRequest("offset %q: want an offset (0 or more), earliest or latest", s)
			}
			p.startKind, p.offset = startOffset, v
		}
	}
	if v, ok, err := intParam("limit", 1, maxLimit); err != nil {
		return p, err
	} else if ok {
		p.limit, p.hasLimit = int(v), true
	}
	if v, ok, err := intParam("max_bytes", 1, maxMaxBytes); err != nil {
		return p, err
	} else if ok {
		p.maxBytes = int(v)
	}
	if v, ok, err := intParam("wait_ms", 0, maxWait.Milliseconds()); err != nil {
		return p, err
	} else if ok {
		p.wait = time.Duration(v) * time.Millisecond
	}
	for _, tp := range []struct {
		name string
		dst  *int64
		has  *bool
	}{{"since", &p.since, &p.hasSince}, {"until", &p.until, &p.hasUntil}} {
		if s, ok := one(tp.name); ok {
			ms, err := parseTime(s)
			if err != nil {
				return p, badRequest("%s: %v", tp.name, err)
			}
			*tp.dst, *tp.has = ms, true
		}
	}
	if p.hasSince && p.hasUntil && p.until < p.since {
		return p, badRequest("until (%d ms) is before since (%d ms)", p.until, p.since)
	}
	if p.hasSince && p.startKind != startDefault {
		return p, badRequest("give offset or since, not both")
	}
	if s, ok := one("key"); ok {
		p.key, p.hasKey = []byte(s), true
	}
	switch s, _ := one("isolation"); s {
	case "", "memory":
	case "durable":
		p.durable = true
	default:
		return p, badRequest("isolation %q: want memory (the default: everything appended) or durable (only fsynced records)", s)
	}
	switch s, _ := one("follow"); s {
	case "", "false", "0":
	case "true", "1":
		p.follow = true
		if !p.hasLimit {
			p.limit = 0
		}
	default:
		return p, badRequest("follow %q: want true or false", s)
	}
	if p.follow && p.wait > 0 {
		return p, badRequest("give follow or wait_ms, not both")
	}
	if s, ok := one("partitions"); ok {
		for _, f := range strings.Split(s, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil || v < 0 {
				return p, badRequest("partitions %q: want partition numbers separated by commas", s)
			}
			p.partitions = append(p.partitions, int32(v))
		}
	}
	return p, nil
}
