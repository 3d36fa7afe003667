package retention

import "testing"

func TestNewStart(t *testing.T) {
	spans := []Span{
		{FirstOffset: 0, LastOffset: 99, MaxTimestamp: 1000, Bytes: 100},
		{FirstOffset: 100, LastOffset: 199, MaxTimestamp: 2000, Bytes: 100},
		{FirstOffset: 200, LastOffset: 299, MaxTimestamp: 3000, Bytes: 100},
	}
	for _, tc := range []struct {
		name        string
		spans       []Span
		active      int64
		policy      Policy
		now         int64
		wantStart   int64
		wantDropped int
	}{
		{"no spans", nil, 500, Policy{Bytes: 1, Ms: 1}, 9999, -1, 0},
		{"unlimited keeps all", spans, 0, Policy{Bytes: -1, Ms: -1}, 1e9, 0, 0},
		{"under the size bound", spans, 0, Policy{Bytes: 300, Ms: -1}, 0, 0, 0},
		{"one byte over drops the oldest span", spans, 1, Policy{Bytes: 300, Ms: -1}, 0, 100, 1},
		{"active bytes count toward size", spans, 150, Policy{Bytes: 250, Ms: -1}, 0, 200, 2},
		{"never drops the active segment", spans, 1000, Policy{Bytes: 10, Ms: -1}, 0, 300, 3},
		{"age drops spans whose newest record is old", spans, 0, Policy{Bytes: -1, Ms: 1500}, 4000, 200, 2},
		{"a span exactly at the age bound stays", spans, 0, Policy{Bytes: -1, Ms: 2000}, 4000, 100, 1},
		{"age and size together", spans, 0, Policy{Bytes: 100, Ms: 10000}, 4000, 200, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, dropped := NewStart(tc.spans, tc.active, tc.policy, tc.now)
			if start != tc.wantStart || dropped != tc.wantDropped {
				t.Fatalf("NewStart = (%d, %d), want (%d, %d)", start, dropped, tc.wantStart, tc.wantDropped)
			}
		})
	}
}
