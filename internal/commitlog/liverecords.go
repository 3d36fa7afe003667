package commitlog

// livePieceBytes is the size of the pieces a segment's live index records
// are kept in. Kept in one slice, the records grew by doubling: each growth
// allocated a larger buffer and copied the records into it, and on the
// project's VM, where a fresh page costs 11–17 µs to touch, an execution
// trace caught one such growth holding the flusher 13 ms in recordLive and
// starting a collection (BENCHMARKS.md, seventh pass). Pieces never copy,
// and go back to a free list once written or given up, so that a steady
// load writes its records into pages it already has.
const livePieceBytes = 1 << 20

// maxSparePieces bounds the free list of pieces: a segment's worth of
// records at their bound.
const maxSparePieces = maxLiveIndexBytes / livePieceBytes

// liveRecords is a segment's index records in the index file's format,
// built by the flusher as it writes the segment (recordLive).
type liveRecords struct {
	pieces [][]byte // each of capacity livePieceBytes, filled in order
	n      int      // bytes of records
	count  int      // records
}

// add appends frame's record, starting a piece from take when the last
// has no room for it.
func (r *liveRecords) add(frame []byte, prefix int, take func() []byte) {
	need := indexRecordHead + min(prefix, len(frame)-FrameHeaderSize)
	last := len(r.pieces) - 1
	if last < 0 || cap(r.pieces[last])-len(r.pieces[last]) < need {
		r.pieces = append(r.pieces, take())
		last++
	}
	before := len(r.pieces[last])
	r.pieces[last] = appendIndexRecord(r.pieces[last], frame, prefix)
	r.n += len(r.pieces[last]) - before
	r.count++
}

// footprint is the memory the records hold.
func (r *liveRecords) footprint() int { return len(r.pieces) * livePieceBytes }

// takePiece returns an empty piece from the free list, or a new one.
// Called by the flusher.
func (l *Log) takePiece() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.livePieces); n > 0 {
		p := l.livePieces[n-1]
		l.livePieces[n-1] = nil
		l.livePieces = l.livePieces[:n-1]
		return p
	}
	return make([]byte, 0, livePieceBytes)
}

// givePiecesLocked puts pieces no longer used back on the free list, up to
// its bound. l.mu is held.
func (l *Log) givePiecesLocked(pieces [][]byte) {
	for _, p := range pieces {
		if len(l.livePieces) >= maxSparePieces {
			return
		}
		l.livePieces = append(l.livePieces, p[:0])
	}
}
