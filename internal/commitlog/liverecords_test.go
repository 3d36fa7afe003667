package commitlog

import (
	"bytes"
	"testing"
)

// Records kept in pieces read back, piece after piece, as the records
// appended to one slice would: none is split across two pieces, each
// piece is filled to within a record of its end, and growing never
// copies (every piece keeps the capacity it was taken with).
func TestLiveRecordsInPiecesAreTheRecordsInOrder(t *testing.T) {
	const prefix = 100
	var r liveRecords
	var whole []byte
	taken := 0
	take := func() []byte { taken++; return make([]byte, 0, livePieceBytes) }
	for i := range 30000 {
		payload := bytes.Repeat([]byte{byte(i)}, 50+i%100)
		frame := appendFrame(nil, 1, uint64(i+1), uint64(i%7), payload, payloadCRC(payload))
		r.add(frame, prefix, take)
		whole = appendIndexRecord(whole, frame, prefix)
	}
	if r.count != 30000 || r.n != len(whole) {
		t.Fatalf("%d records of %d bytes kept; want 30000 of %d", r.count, r.n, len(whole))
	}
	if taken != len(r.pieces) || taken < 3 {
		t.Fatalf("%d pieces taken for %d pieces held; want one each, several", taken, len(r.pieces))
	}
	var joined []byte
	for i, p := range r.pieces {
		if cap(p) != livePieceBytes {
			t.Fatalf("piece %d has capacity %d: it grew", i, cap(p))
		}
		if i < len(r.pieces)-1 && cap(p)-len(p) >= indexRecordHead+prefix {
			t.Fatalf("piece %d left %d bytes unused, room for another record", i, cap(p)-len(p))
		}
		joined = append(joined, p...)
	}
	if !bytes.Equal(joined, whole) {
		t.Fatal("the pieces joined are not the records")
	}
	if r.footprint() != len(r.pieces)*livePieceBytes {
		t.Fatalf("footprint %d for %d pieces", r.footprint(), len(r.pieces))
	}
}
