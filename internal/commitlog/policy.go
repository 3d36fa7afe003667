package commitlog

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SyncMode says when the flusher calls fdatasync.
type SyncMode int

// The sync modes.
const (
	// SyncAlways syncs after every group of writes: an append is durable
	// when its Wait returns. The default.
	SyncAlways SyncMode = iota
	// SyncInterval syncs on a timer; an append waits for the next sync.
	SyncInterval
	// SyncNever never syncs; an append counts as durable once written to
	// the operating system.
	SyncNever
)

// SyncPolicy is a SyncMode with its interval.
type SyncPolicy struct {
	Mode     SyncMode
	Interval time.Duration // for SyncInterval
}

// String formats the policy as ParseSyncPolicy reads it.
func (p SyncPolicy) String() string {
	switch p.Mode {
	case SyncInterval:
		return fmt.Sprintf("interval=%d", p.Interval.Milliseconds())
	case SyncNever:
		return "never"
	default:
		return "always"
	}
}

// ParseSyncPolicy reads "always", "never" or "interval=<ms>".
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	switch {
	case s == "" || s == "always":
		return SyncPolicy{Mode: SyncAlways}, nil
	case s == "never":
		return SyncPolicy{Mode: SyncNever}, nil
	case strings.HasPrefix(s, "interval="):
		ms, err := strconv.Atoi(strings.TrimPrefix(s, "interval="))
		if err != nil || ms <= 0 {
			return SyncPolicy{}, fmt.Errorf("commitlog: fsync policy %q: interval must be a positive number of milliseconds", s)
		}
		return SyncPolicy{Mode: SyncInterval, Interval: time.Duration(ms) * time.Millisecond}, nil
	}
	return SyncPolicy{}, fmt.Errorf("commitlog: fsync policy %q: want always, never or interval=<ms>", s)
}
