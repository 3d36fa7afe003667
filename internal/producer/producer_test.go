package producer

import (
	"errors"
	"math"
	"testing"
)

func TestIdempotentSequences(t *testing.T) {
	type step struct {
		pid       int64
		epoch     int16
		seq, n    int32
		wantErr   error
		wantDup   bool
		wantBase  int64
		storeBase int64 // base to record when accepted
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"unknown producer is accepted at any sequence", []step{
			{pid: 1, seq: 42, n: 3, storeBase: 0},
		}},
		{"in-order batches are accepted", []step{
			{pid: 1, seq: 0, n: 5, storeBase: 0},
			{pid: 1, seq: 5, n: 5, storeBase: 5},
			{pid: 1, seq: 10, n: 1, storeBase: 10},
		}},
		{"a retried batch is a duplicate with its original offsets", []step{
			{pid: 1, seq: 0, n: 5, storeBase: 100},
			{pid: 1, seq: 5, n: 5, storeBase: 105},
			{pid: 1, seq: 0, n: 5, wantDup: true, wantBase: 100},
			{pid: 1, seq: 5, n: 5, wantDup: true, wantBase: 105},
		}},
		{"a gap is out of order", []step{
			{pid: 1, seq: 0, n: 5, storeBase: 0},
			{pid: 1, seq: 7, n: 1, wantErr: ErrOutOfOrderSequence},
		}},
		{"a batch older than the window is out of order", []step{
			{pid: 1, seq: 0, n: 1, storeBase: 0},
			{pid: 1, seq: 1, n: 1, storeBase: 1},
			{pid: 1, seq: 2, n: 1, storeBase: 2},
			{pid: 1, seq: 3, n: 1, storeBase: 3},
			{pid: 1, seq: 4, n: 1, storeBase: 4},
			{pid: 1, seq: 5, n: 1, storeBase: 5},
			{pid: 1, seq: 0, n: 1, wantErr: ErrOutOfOrderSequence},
			{pid: 1, seq: 1, n: 1, wantDup: true, wantBase: 1},
		}},
		{"an older epoch is fenced", []step{
			{pid: 1, epoch: 2, seq: 0, n: 1, storeBase: 0},
			{pid: 1, epoch: 1, seq: 1, n: 1, wantErr: ErrInvalidEpoch},
		}},
		{"a new epoch must start at sequence 0", []step{
			{pid: 1, epoch: 0, seq: 0, n: 3, storeBase: 0},
			{pid: 1, epoch: 1, seq: 3, n: 1, wantErr: ErrOutOfOrderSequence},
			{pid: 1, epoch: 1, seq: 0, n: 1, storeBase: 3},
			{pid: 1, epoch: 1, seq: 1, n: 1, storeBase: 4},
		}},
		{"producers are independent", []step{
			{pid: 1, seq: 0, n: 2, storeBase: 0},
			{pid: 2, seq: 0, n: 2, storeBase: 2},
			{pid: 1, seq: 2, n: 1, storeBase: 4},
			{pid: 2, seq: 0, n: 2, wantDup: true, wantBase: 2},
		}},
		{"sequences wrap from MaxInt32 to 0", []step{
			{pid: 1, seq: math.MaxInt32 - 1, n: 2, storeBase: 0},
			{pid: 1, seq: 0, n: 1, storeBase: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tab Table
			for i, s := range tc.steps {
				d, err := tab.Check(s.pid, s.epoch, s.seq, s.n)
				if !errors.Is(err, s.wantErr) || (err == nil) != (s.wantErr == nil) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
				}
				if d.Duplicate != s.wantDup || (d.Duplicate && d.Base != s.wantBase) {
					t.Fatalf("step %d: decision %+v, want dup %v base %d", i, d, s.wantDup, s.wantBase)
				}
				if err == nil && !d.Duplicate {
					tab.Record(s.pid, s.epoch, s.seq, s.n, s.storeBase)
				}
			}
		})
	}
}
