package manifest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors returned by the manifest, always wrapped with what failed and with
// which input; test for them with errors.Is.
var (
	// ErrTopicExists is returned when creating a topic whose name is taken.
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownTopic is returned when a named topic does not exist.
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrInvalid is returned for an argument that breaks a documented rule.
	ErrInvalid = errors.New("invalid argument")
	// ErrSchemaTooNew is returned by Open for a manifest written by a
	// newer millrace, whose schema this build does not know.
	ErrSchemaTooNew = errors.New("manifest schema is newer than this build")
	// ErrCorrupt is returned by Open when the file is not a SQLite database,
	// is damaged, or is a database that is not a millrace manifest.
	ErrCorrupt = errors.New("not a valid manifest")
)

// applicationID tags the SQLite file as a millrace manifest ("MLRC").
const applicationID = 0x4d4c5243

// busyTimeout is how long a statement waits for a lock held by another
// connection (another process inspecting the file) before failing.
const busyTimeout = 10 * time.Second

// migrations[i] takes the schema from version i to version i+1. Never edit
// an entry once released: append a new one.
var migrations = []string{
	// 1: initial schema.
	`
CREATE TABLE topics (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	name              TEXT    NOT NULL UNIQUE,
	uuid              BLOB    NOT NULL UNIQUE CHECK (length(uuid) = 16),
	partitions        INTEGER NOT NULL CHECK (partitions >= 1),
	retention_bytes   INTEGER NOT NULL,
	retention_ms      INTEGER NOT NULL,
	segment_bytes     INTEGER NOT NULL,
	max_message_bytes INTEGER NOT NULL,
	created_at        INTEGER NOT NULL
);
CREATE TABLE topic_configs (
	topic_id INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
	key      TEXT    NOT NULL,
	value    TEXT    NOT NULL,
	PRIMARY KEY (topic_id, key)
) WITHOUT ROWID;
CREATE TABLE partitions (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	topic_id         INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
	idx              INTEGER NOT NULL CHECK (idx >= 0),
	shard            INTEGER NOT NULL CHECK (shard >= 0),
	log_start_offset INTEGER NOT NULL DEFAULT 0,
	next_offset      INTEGER NOT NULL DEFAULT 0,
	UNIQUE (topic_id, idx)
);
CREATE TABLE segments (
	shard       INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	sealed      INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	sealed_at   INTEGER NOT NULL DEFAULT 0,
	bytes       INTEGER NOT NULL DEFAULT 0,
	first_index INTEGER NOT NULL DEFAULT 0,
	last_index  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (shard, seq)
) WITHOUT ROWID;
CREATE TABLE spans (
	shard        INTEGER NOT NULL,
	seq          INTEGER NOT NULL,
	partition_id INTEGER NOT NULL REFERENCES partitions(id) ON DELETE CASCADE,
	first_offset INTEGER NOT NULL,
	last_offset  INTEGER NOT NULL,
	first_ts     INTEGER NOT NULL,
	max_ts       INTEGER NOT NULL,
	bytes        INTEGER NOT NULL,
	records      INTEGER NOT NULL,
	batches      INTEGER NOT NULL,
	PRIMARY KEY (shard, seq, partition_id),
	FOREIGN KEY (shard, seq) REFERENCES segments(shard, seq) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX spans_by_partition ON spans(partition_id, first_offset);
CREATE TABLE group_offsets (
	group_id     TEXT    NOT NULL,
	topic        TEXT    NOT NULL,
	partition    INTEGER NOT NULL,
	offset       INTEGER NOT NULL,
	leader_epoch INTEGER NOT NULL,
	metadata     TEXT    NOT NULL,
	commit_time  INTEGER NOT NULL,
	PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID;
CREATE INDEX group_offsets_by_topic ON group_offsets(topic);
CREATE TABLE producer_states (
	producer_id   INTEGER NOT NULL,
	partition_id  INTEGER NOT NULL REFERENCES partitions(id) ON DELETE CASCADE,
	epoch         INTEGER NOT NULL,
	last_sequence INTEGER NOT NULL,
	last_offset   INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	PRIMARY KEY (producer_id, partition_id)
) WITHOUT ROWID;
CREATE INDEX producer_states_by_partition ON producer_states(partition_id);
CREATE TABLE kv (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('next_producer_id', 1);
`,
}

// SchemaVersion is the schema version this package writes and reads: the
// number of migrations.
const SchemaVersion = 1

// Manifest is an open manifest database. It is safe for concurrent use.
type Manifest struct {
	db   *sql.DB
	path string

	insertTopic     *sql.Stmt
	insertConfig    *sql.Stmt
	insertPartition *sql.Stmt
}

// Open opens the manifest at path, creating the file and its schema if
// missing and applying pending migrations. It fails with ErrCorrupt if the
// file is not a SQLite database, is damaged, or belongs to something else,
// and with ErrSchemaTooNew if it was written by a newer schema version.
func Open(path string) (*Manifest, error) {
	if path == "" {
		return nil, fmt.Errorf("manifest: open: empty path: %w", ErrInvalid)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()

	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("manifest: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	m := &Manifest{db: db, path: path}
	if err := m.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("manifest: open %s: %w", path, classify(err))
	}
	if err := m.prepare(); err != nil {
		m.Close()
		return nil, fmt.Errorf("manifest: open %s: prepare: %w", path, err)
	}
	return m, nil
}

// classify wraps SQLite's "not a database" and "corrupt" errors in ErrCorrupt.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
	}
	return err
}

// migrate checks that the file is ours and brings its schema up to date.
func (m *Manifest) migrate() error {
	tx, err := m.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var appID int64
	if err := tx.QueryRow(`PRAGMA application_id`).Scan(&appID); err != nil {
		return err
	}
	var metaTables, otherTables int
	err = tx.QueryRow(`SELECT count(*) FILTER (WHERE name = 'meta'), count(*) FILTER (WHERE name <> 'meta')
		FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).Scan(&metaTables, &otherTables)
	if err != nil {
		return err
	}
	switch {
	case appID != 0 && appID != applicationID:
		return fmt.Errorf("%w: SQLite application_id is %#x, want %#x", ErrCorrupt, appID, applicationID)
	case metaTables == 0 && otherTables > 0:
		return fmt.Errorf("%w: SQLite database with %d table(s) but no meta table", ErrCorrupt, otherTables)
	}

	version := 0
	if metaTables == 0 {
		if _, err := tx.Exec(`PRAGMA application_id = ` + fmt.Sprint(applicationID)); err != nil {
			return err
		}
		if _, err := tx.Exec(`CREATE TABLE meta (key TEXT NOT NULL PRIMARY KEY, value) WITHOUT ROWID`); err != nil {
			return err
		}
	} else {
		err := tx.QueryRow(`SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: reading schema_version: %w", ErrCorrupt, err)
		}
	}
	if version > len(migrations) {
		return fmt.Errorf("%w: schema version %d, this build knows up to %d", ErrSchemaTooNew, version, len(migrations))
	}
	if version == len(migrations) {
		return nil // nothing to do; the rollback ends the read transaction
	}
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(migrations[v]); err != nil {
			return fmt.Errorf("migration to schema version %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta(key, value) VALUES ('schema_version', ?)
		ON CONFLICT(key) DO UPDATE SET value = excluded.value`, len(migrations)); err != nil {
		return err
	}
	return tx.Commit()
}

// prepare prepares the statements of the hot path (CreateTopic).
func (m *Manifest) prepare() error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = m.db.Prepare(q)
		return s
	}
	m.insertTopic = prep(`INSERT INTO topics(name, uuid, partitions, retention_bytes, retention_ms,
		segment_bytes, max_message_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO NOTHING`)
	m.insertConfig = prep(`INSERT INTO topic_configs(topic_id, key, value) VALUES (?, ?, ?)`)
	m.insertPartition = prep(`INSERT INTO partitions(topic_id, idx, shard) VALUES (?, ?, ?)`)
	return err
}

// Path returns the file the manifest was opened from.
func (m *Manifest) Path() string { return m.path }

// Close releases the prepared statements and closes the database. Every
// committed change is already durable; Close only releases resources.
func (m *Manifest) Close() error {
	for _, s := range []*sql.Stmt{m.insertTopic, m.insertConfig, m.insertPartition} {
		if s != nil {
			s.Close()
		}
	}
	if err := m.db.Close(); err != nil {
		return fmt.Errorf("manifest: close %s: %w", m.path, err)
	}
	return nil
}

// withTx runs fn in one (immediate) transaction and commits it. Any error,
// from fn or the commit, is prefixed with "manifest: " and what.
func (m *Manifest) withTx(what func() string, fn func(tx *sql.Tx) error) error {
	tx, err := m.db.Begin()
	if err != nil {
		return fmt.Errorf("manifest: %s: begin: %w", what(), err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("manifest: %s: %w", what(), err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("manifest: %s: commit: %w", what(), err)
	}
	return nil
}

// read runs fn in one read-only (deferred) transaction, so that its queries
// see one snapshot, and wraps its error like withTx.
func (m *Manifest) read(what func() string, fn func(tx *sql.Tx) error) error {
	tx, err := m.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("manifest: %s: begin: %w", what(), err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("manifest: %s: %w", what(), err)
	}
	return nil
}

// label returns a constant description for withTx.
func label(s string) func() string { return func() string { return s } }

// toNanos stores a time as Unix nanoseconds, the zero time as 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos; times come back in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
