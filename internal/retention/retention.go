// Package retention decides, without doing any I/O, how far a partition's
// log start offset may advance under its topic's retention policy.
//
// The caller describes a partition as the spans it has in sealed commit-log
// segments, oldest first, plus the bytes it has in the active segment.
// Retention works by whole spans: a span is dropped entirely or kept
// entirely, and the active segment is never dropped (Kafka keeps its active
// segment too). The caller then moves the log start offset and deletes
// segment files that no partition references any more.
package retention

// Span is one partition's data in one sealed segment.
type Span struct {
	FirstOffset  int64
	LastOffset   int64
	MaxTimestamp int64 // ms since the epoch
	Bytes        int64
}

// Policy is a topic's retention settings; a negative value is unlimited.
type Policy struct {
	Bytes int64 // retention.bytes, per partition
	Ms    int64 // retention.ms
}

// NewStart returns the offset the log should start at and how many spans
// that drops. A span goes when the partition's total bytes (sealed spans
// plus activeBytes) exceed Policy.Bytes, oldest first, or when its newest
// record is older than Policy.Ms at nowMs. It returns (start, 0) with start
// = spans[0].FirstOffset, or -1 if there are no spans, when nothing goes.
func NewStart(spans []Span, activeBytes int64, p Policy, nowMs int64) (start int64, dropped int) {
	if len(spans) == 0 {
		return -1, 0
	}
	total := activeBytes
	for _, s := range spans {
		total += s.Bytes
	}
	for dropped < len(spans) {
		s := spans[dropped]
		bySize := p.Bytes >= 0 && total > p.Bytes
		byAge := p.Ms >= 0 && s.MaxTimestamp < nowMs-p.Ms
		if !bySize && !byAge {
			break
		}
		total -= s.Bytes
		dropped++
	}
	if dropped == 0 {
		return spans[0].FirstOffset, 0
	}
	return spans[dropped-1].LastOffset + 1, dropped
}
