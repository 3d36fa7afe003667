package manifest

import (
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSchemaVersionMatchesMigrations(t *testing.T) {
	if SchemaVersion != len(migrations) {
		t.Fatalf("SchemaVersion = %d but there are %d migrations", SchemaVersion, len(migrations))
	}
	m := openTest(t)
	var v int
	if err := m.db.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != SchemaVersion {
		t.Errorf("stored schema_version = %d, %v; want %d", v, err, SchemaVersion)
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1"} {
		var got string
		if err := m.db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
}

// snapshot is everything a manifest holds, read through the API.
type snapshot struct {
	Topics     []Topic
	Partitions []Partition
	Segments   []Segment
	Spans      []Span
	Offsets    []GroupOffset
	Producers  []ProducerState
	Meta       string
}

func takeSnapshot(t *testing.T, m *Manifest) snapshot {
	t.Helper()
	var s snapshot
	var err error
	check := func(e error) {
		if e != nil {
			t.Helper()
			t.Fatal(e)
		}
	}
	s.Topics, err = m.Topics()
	check(err)
	s.Partitions, err = m.Partitions()
	check(err)
	s.Segments, err = m.Segments(3)
	check(err)
	s.Spans, err = m.ShardSpans(3)
	check(err)
	s.Offsets, err = m.GroupOffsets("g")
	check(err)
	s.Producers, err = m.ProducerStates()
	check(err)
	s.Meta, _, err = m.GetMeta("k")
	check(err)
	return s
}

// populate writes one of everything.
func populate(t *testing.T, m *Manifest) {
	t.Helper()
	cfg := DefaultTopicConfig()
	cfg.Extra = map[string]string{"cleanup.policy": "compact"}
	_, ps, err := m.CreateTopic("events", 4, cfg, modShard(4))
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, m, "audit", 1, nil)
	steps := []error{
		m.AddSegment(3, 1, time.Unix(100, 0)),
		m.SealSegment(Segment{Shard: 3, Seq: 1, CreatedAt: time.Unix(100, 0), SealedAt: time.Unix(200, 0), Bytes: 77},
			[]Span{span(3, 1, ps[3].ID, 0, 9)}, map[int64]int64{ps[3].ID: 10}),
		m.AddSegment(3, 2, time.Unix(200, 0)),
		m.SetLogStartOffsets(map[int64]int64{ps[3].ID: 4}),
		m.CommitOffsets([]GroupOffset{{Group: "g", Topic: "events", Partition: 3, Offset: 8, LeaderEpoch: 1, Metadata: "x", CommitTime: time.Unix(300, 0)}}),
		m.SaveProducerStates([]ProducerState{{ProducerID: 1, Epoch: 1, PartitionID: ps[3].ID, LastSequence: 9, LastOffset: 9, UpdatedAt: time.Unix(300, 0)}}),
		m.SetMeta("k", "v"),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

func TestDurableAcrossCloseAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, m)
	before := takeSnapshot(t, m)
	if len(before.Topics) != 2 || len(before.Spans) != 1 || len(before.Offsets) != 1 || len(before.Producers) != 1 {
		t.Fatalf("populate wrote %+v", before)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if after := takeSnapshot(t, m); !reflect.DeepEqual(after, before) {
		t.Errorf("after reopen\n%+v\nwant\n%+v", after, before)
	}
}

// TestCommittedWithoutClose copies the files of a manifest that was never
// closed, as a crash would leave them, and opens the copy.
func TestCommittedWithoutClose(t *testing.T) {
	dir := t.TempDir()
	m := openTest(t)
	populate(t, m)
	before := takeSnapshot(t, m)
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(m.Path() + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "copy.db"+suffix), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if after := takeSnapshot(t, c); !reflect.DeepEqual(after, before) {
		t.Errorf("crash copy\n%+v\nwant\n%+v", after, before)
	}
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	random := make([]byte, 8192)
	rand.Read(random)
	header := append([]byte("SQLite format 3\x00"), random[:4080]...)
	tests := []struct {
		name  string
		setup func(path string) error
		want  error
	}{
		{"text file", func(p string) error { return os.WriteFile(p, []byte("this is not a database\n"), 0o644) }, ErrCorrupt},
		{"random bytes", func(p string) error { return os.WriteFile(p, random, 0o644) }, ErrCorrupt},
		{"damaged header", func(p string) error { return os.WriteFile(p, header, 0o644) }, ErrCorrupt},
		{"other SQLite database", func(p string) error {
			return rawExec(p, `CREATE TABLE users (id INTEGER PRIMARY KEY)`)
		}, ErrCorrupt},
		{"other application id", func(p string) error { return rawExec(p, `PRAGMA application_id = 7`) }, ErrCorrupt},
		{"newer schema", func(p string) error {
			m, err := Open(p)
			if err != nil {
				return err
			}
			defer m.Close()
			_, err = m.db.Exec(`UPDATE meta SET value = 99 WHERE key = 'schema_version'`)
			return err
		}, ErrSchemaTooNew},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.db")
			if err := tc.setup(path); err != nil {
				t.Fatal(err)
			}
			m, err := Open(path)
			if err == nil {
				m.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open: %v; want %v naming the path", err, tc.want)
			}
			t.Log(err)
		})
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "such", "dir", "m.db")); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// rawExec runs one statement on a SQLite file without the manifest.
func rawExec(path, stmt string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

func TestConcurrentUse(t *testing.T) {
	m := openTest(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, _, err := m.CreateTopic(fmt.Sprintf("t%d-%d", g, i), 2, TopicConfig{}, nil); err != nil {
					errs <- err
					return
				}
				if _, err := m.Partitions(); err != nil {
					errs <- err
					return
				}
				if _, err := m.NextProducerID(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ts, _ := m.Topics(); len(ts) != 80 {
		t.Errorf("%d topics, want 80", len(ts))
	}
}

// fill creates n one-partition topics quickly, many per transaction.
func fill(t testing.TB, m *Manifest, n int) {
	t.Helper()
	const batch = 5000
	for start := 0; start < n; start += batch {
		err := m.withTx(label("fill"), func(tx *sql.Tx) error {
			for i := start; i < start+batch && i < n; i++ {
				if _, _, err := m.createTopicTx(tx, fmt.Sprintf("topic-%06d", i), 1, DefaultTopicConfig(), nil, time.Now()); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoad100kTopics checks that opening a manifest with 100,000 topics and
// loading all topics and partitions is well under a second.
func TestLoad100kTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 100000
	path := filepath.Join(t.TempDir(), "m.db")
	m, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, m, n)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	// Best of three, so that a busy shared machine does not fail the test.
	elapsed := time.Duration(1 << 62)
	for range 3 {
		start := time.Now()
		m, err = Open(path)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := m.Topics()
		if err != nil {
			t.Fatal(err)
		}
		ps, err := m.Partitions()
		if err != nil {
			t.Fatal(err)
		}
		elapsed = min(elapsed, time.Since(start))
		m.Close()
		if len(ts) != n || len(ps) != n || ts[n-1].Name != fmt.Sprintf("topic-%06d", n-1) || ps[0].Topic != "topic-000000" {
			t.Fatalf("loaded %d topics, %d partitions", len(ts), len(ps))
		}
	}
	t.Logf("Open + Topics + Partitions with %d topics: %v", n, elapsed)
	if !raceEnabled && elapsed > time.Second {
		t.Errorf("loading took %v, want under a second", elapsed)
	}
}
