package manifest

import (
	"database/sql"
	"fmt"
	"math"
	"time"
)

// Segment is one file of a shard's commit log.
type Segment struct {
	Shard     int32
	Seq       uint64 // must be at most math.MaxInt64
	Sealed    bool
	CreatedAt time.Time
	SealedAt  time.Time // zero while open
	Bytes     int64
	// FirstIndex and LastIndex are the commit-log entry indexes the segment
	// holds; the manifest stores them verbatim.
	FirstIndex, LastIndex uint64
}

// Span is one partition's range inside one segment.
type Span struct {
	Shard          int32
	Seq            uint64
	PartitionID    int64
	FirstOffset    int64
	LastOffset     int64
	FirstTimestamp int64
	MaxTimestamp   int64
	Bytes          int64
	Records        int64
	Batches        int64
}

func checkSegment(shard int32, seq uint64) error {
	if shard < 0 {
		return fmt.Errorf("%w: shard %d is negative", ErrInvalid, shard)
	}
	if seq > math.MaxInt64 {
		return fmt.Errorf("%w: segment seq %d exceeds %d", ErrInvalid, seq, int64(math.MaxInt64))
	}
	return nil
}

// AddSegment records a new, open segment of a shard. Adding a segment that
// is already recorded (open or sealed) changes nothing.
func (m *Manifest) AddSegment(shard int32, seq uint64, createdAt time.Time) error {
	what := func() string { return fmt.Sprintf("add segment %d/%d", shard, seq) }
	if err := checkSegment(shard, seq); err != nil {
		return fmt.Errorf("manifest: %s: %w", what(), err)
	}
	if _, err := m.db.Exec(`INSERT INTO segments(shard, seq, created_at) VALUES (?, ?, ?)
		ON CONFLICT(shard, seq) DO NOTHING`, shard, int64(seq), toNanos(createdAt)); err != nil {
		return fmt.Errorf("manifest: %s: %w", what(), err)
	}
	return nil
}

// SealSegment records a segment as sealed, in one transaction: it upserts the
// segment row with seg's fields (Sealed is implied; a zero SealedAt becomes
// now), replaces the segment's spans with spans, and raises the next offset
// of each partition in nextOffsets (partition ID → offset) to at least the
// given value. Sealing the same segment again with the same arguments leaves
// the manifest as it was.
//
// Every span must name seg's shard and seq, at most once per partition.
// Spans and next offsets of partitions that no longer exist (their topic was
// deleted while the segment was open) are dropped, since partition IDs are
// never reused.
func (m *Manifest) SealSegment(seg Segment, spans []Span, nextOffsets map[int64]int64) error {
	return m.withTx(func() string { return fmt.Sprintf("seal segment %d/%d", seg.Shard, seg.Seq) }, func(tx *sql.Tx) error {
		if err := checkSegment(seg.Shard, seg.Seq); err != nil {
			return err
		}
		seen := make(map[int64]bool, len(spans))
		for _, s := range spans {
			if err := checkSpan(seg, s); err != nil {
				return err
			}
			if seen[s.PartitionID] {
				return fmt.Errorf("%w: two spans for partition %d", ErrInvalid, s.PartitionID)
			}
			seen[s.PartitionID] = true
		}
		sealedAt := seg.SealedAt
		if sealedAt.IsZero() {
			sealedAt = time.Now()
		}
		if _, err := tx.Exec(`INSERT INTO segments(shard, seq, sealed, created_at, sealed_at, bytes, first_index, last_index)
			VALUES (?, ?, 1, ?, ?, ?, ?, ?)
			ON CONFLICT(shard, seq) DO UPDATE SET sealed = 1, created_at = excluded.created_at,
				sealed_at = excluded.sealed_at, bytes = excluded.bytes,
				first_index = excluded.first_index, last_index = excluded.last_index`,
			seg.Shard, int64(seg.Seq), toNanos(seg.CreatedAt), toNanos(sealedAt), seg.Bytes,
			int64(seg.FirstIndex), int64(seg.LastIndex)); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM spans WHERE shard = ? AND seq = ?`, seg.Shard, int64(seg.Seq)); err != nil {
			return err
		}
		if len(spans) > 0 {
			ins, err := tx.Prepare(`INSERT INTO spans(shard, seq, partition_id, first_offset, last_offset,
				first_ts, max_ts, bytes, records, batches)
				SELECT ?, ?, id, ?, ?, ?, ?, ?, ?, ? FROM partitions WHERE id = ?`)
			if err != nil {
				return err
			}
			defer ins.Close()
			for _, s := range spans {
				if _, err := ins.Exec(seg.Shard, int64(seg.Seq), s.FirstOffset, s.LastOffset, s.FirstTimestamp,
					s.MaxTimestamp, s.Bytes, s.Records, s.Batches, s.PartitionID); err != nil {
					return fmt.Errorf("span of partition %d: %w", s.PartitionID, err)
				}
			}
		}
		if len(nextOffsets) > 0 {
			up, err := tx.Prepare(`UPDATE partitions SET next_offset = max(next_offset, ?) WHERE id = ?`)
			if err != nil {
				return err
			}
			defer up.Close()
			for id, off := range nextOffsets {
				if _, err := up.Exec(off, id); err != nil {
					return fmt.Errorf("next offset of partition %d: %w", id, err)
				}
			}
		}
		return nil
	})
}

func checkSpan(seg Segment, s Span) error {
	switch {
	case s.Shard != seg.Shard || s.Seq != seg.Seq:
		return fmt.Errorf("%w: span of partition %d names segment %d/%d", ErrInvalid, s.PartitionID, s.Shard, s.Seq)
	case s.FirstOffset < 0 || s.LastOffset < s.FirstOffset:
		return fmt.Errorf("%w: span of partition %d has offsets %d..%d", ErrInvalid, s.PartitionID, s.FirstOffset, s.LastOffset)
	case s.Bytes < 0 || s.Records < 0 || s.Batches < 0:
		return fmt.Errorf("%w: span of partition %d has negative counts", ErrInvalid, s.PartitionID)
	}
	return nil
}

// Segments returns the segments of a shard, open and sealed, ordered by seq.
func (m *Manifest) Segments(shard int32) ([]Segment, error) {
	rows, err := m.db.Query(`SELECT seq, sealed, created_at, sealed_at, bytes, first_index, last_index
		FROM segments WHERE shard = ? ORDER BY seq`, shard)
	if err != nil {
		return nil, fmt.Errorf("manifest: segments of shard %d: %w", shard, err)
	}
	defer rows.Close()
	var segs []Segment
	for rows.Next() {
		s := Segment{Shard: shard}
		var seq, created, sealed, first, last int64
		if err := rows.Scan(&seq, &s.Sealed, &created, &sealed, &s.Bytes, &first, &last); err != nil {
			return nil, fmt.Errorf("manifest: segments of shard %d: %w", shard, err)
		}
		s.Seq, s.FirstIndex, s.LastIndex = uint64(seq), uint64(first), uint64(last)
		s.CreatedAt, s.SealedAt = fromNanos(created), fromNanos(sealed)
		segs = append(segs, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifest: segments of shard %d: %w", shard, err)
	}
	return segs, nil
}

// DeleteSegment removes a segment and its spans. Deleting a segment that is
// not recorded is not an error.
func (m *Manifest) DeleteSegment(shard int32, seq uint64) error {
	return m.withTx(func() string { return fmt.Sprintf("delete segment %d/%d", shard, seq) }, func(tx *sql.Tx) error {
		if err := checkSegment(shard, seq); err != nil {
			return err
		}
		// The foreign key cascades too; deleting explicitly keeps this
		// correct even on a connection with foreign keys off.
		if _, err := tx.Exec(`DELETE FROM spans WHERE shard = ? AND seq = ?`, shard, int64(seq)); err != nil {
			return err
		}
		_, err := tx.Exec(`DELETE FROM segments WHERE shard = ? AND seq = ?`, shard, int64(seq))
		return err
	})
}

const spanSelect = `SELECT shard, seq, partition_id, first_offset, last_offset, first_ts, max_ts,
	bytes, records, batches FROM spans`

func (m *Manifest) spans(what string, query string, arg any) ([]Span, error) {
	rows, err := m.db.Query(spanSelect+query, arg)
	if err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Span
	for rows.Next() {
		var s Span
		var seq int64
		if err := rows.Scan(&s.Shard, &seq, &s.PartitionID, &s.FirstOffset, &s.LastOffset, &s.FirstTimestamp,
			&s.MaxTimestamp, &s.Bytes, &s.Records, &s.Batches); err != nil {
			return nil, fmt.Errorf("manifest: %s: %w", what, err)
		}
		s.Seq = uint64(seq)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", what, err)
	}
	return out, nil
}

// Spans returns a partition's spans, ordered by first offset.
func (m *Manifest) Spans(partitionID int64) ([]Span, error) {
	return m.spans(fmt.Sprintf("spans of partition %d", partitionID),
		` WHERE partition_id = ? ORDER BY first_offset, shard, seq`, partitionID)
}

// ShardSpans returns all spans of a shard's segments, ordered by seq then
// partition ID.
func (m *Manifest) ShardSpans(shard int32) ([]Span, error) {
	return m.spans(fmt.Sprintf("spans of shard %d", shard), ` WHERE shard = ? ORDER BY seq, partition_id`, shard)
}
