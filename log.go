package millrace

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/batch"
	"github.com/millrace/millrace/internal/commitlog"
	"github.com/millrace/millrace/internal/manifest"
	"github.com/millrace/millrace/internal/vfs"
)

// TopicConfig is a topic's configuration: retention.bytes (per partition,
// -1 unlimited), retention.ms (-1 unlimited), segment.bytes,
// max.message.bytes and any other Kafka-style config kept verbatim.
type TopicConfig = manifest.TopicConfig

// FlushInfo describes one group commit of a shard's commit log: how many
// appends one fsync made durable, and how long the writes and the fsync
// took.
type FlushInfo = commitlog.FlushInfo

// DefaultTopicConfig returns the configuration new topics get by default.
func DefaultTopicConfig() TopicConfig { return manifest.DefaultTopicConfig() }

// Options configures a Log. The zero value of every field but Dir is a
// sensible default.
type Options struct {
	// Dir holds the manifest and the shards' commit logs.
	Dir string
	// Shards is the number of commit logs partitions are spread over;
	// default 1. Fixed when the directory is created.
	Shards int
	// Fsync is the sync policy: "always" (default), "interval=<ms>" or
	// "never".
	Fsync string
	// SegmentBytes is the size at which a shard's commit-log segment is
	// sealed and a new one started; default 256 MiB.
	SegmentBytes int64
	// SegmentAge seals an active segment older than this; default 1 hour.
	SegmentAge time.Duration
	// MaxPendingBytes bounds, per shard, the memory for data accepted but
	// not yet persisted; default 64 MiB. Past it, appends fail with
	// ErrOverloaded.
	MaxPendingBytes int64
	// UnwaitedSyncDelay, with Fsync "always", lets a shard's flusher hold
	// an fsync nobody waits for (only acks=1 or memory-acknowledged
	// appends are in it) for up to this long, so that one fsync covers
	// more writes: fewer fsyncs, and less CPU, under such load. A durable
	// append meanwhile ends the hold. Readers of durable data only (Kafka
	// read_committed) see such appends up to this much later. Default 0:
	// fsync as soon as written.
	UnwaitedSyncDelay time.Duration
	// TailCacheBytes is how much recently written data each shard keeps in
	// memory for readers; default 32 MiB.
	TailCacheBytes int64
	// FlusherNice, if not 0, gives each shard's flusher an OS thread of its
	// own with this nice value (Linux, -20 to 19; negative needs
	// CAP_SYS_NICE, else it is logged and ignored). Under CPU contention a
	// negative value keeps durable acknowledgements from waiting behind
	// other threads. Default 0: the host process's threads are left alone.
	FlusherNice int
	// DropSealedPageCache drops written segments' cached pages one
	// segment behind the writes: as the active segment fills, the one
	// before it leaves the page cache a MiB at a time up to the same
	// offset, so that the page cache holds about one segment per shard and
	// its freed pages are the next written. On
	// a VM whose first touch of a page is dear, a growing page cache
	// stalled writes (BENCHMARKS.md, "Fourth pass"); elsewhere the option
	// only sends consumers more than a segment behind to the disk. Default
	// false (`millrace serve` turns it on).
	DropSealedPageCache bool
	// PreallocateSegments reserves each new segment's whole size on disk
	// (fallocate) when it is created. Off by default: the first write into
	// reserved space converts its extent, a metadata change each
	// fdatasync must commit, and side by side on the project's machine
	// segments grown by their writes gave lower client p99s in 7 of 8
	// pairs (BENCHMARKS.md, sixth pass). A full disk then fails a write
	// instead of the segment's creation; both fail the shard's storage
	// the same way.
	PreallocateSegments bool
	// IndexCacheBytes bounds the memory for index entries of sealed
	// segments read back from their index files, shared by every shard;
	// default 64 MiB. A partition keeps the entries (64 bytes per stored
	// batch) of a segment in memory only until the segment is sealed and
	// its index file written; reads of older data read them back, a
	// segment at a time, through this cache. The segment read most
	// recently is kept even past the bound.
	IndexCacheBytes int64
	// DisableAutoCreate makes appends to unknown topics fail instead of
	// creating them.
	DisableAutoCreate bool
	// DefaultPartitions is the partition count of auto-created topics;
	// default 1.
	DefaultPartitions int32
	// DefaultConfig is the configuration of auto-created topics and of
	// topics created without one; default DefaultTopicConfig().
	DefaultConfig *TopicConfig
	// RetentionInterval is how often retention runs; default 30 s.
	RetentionInterval time.Duration
	// OnFlush, if set, observes every group commit of every shard (for
	// metrics: fsync latency, appends per fsync). It runs in the shard's
	// flusher goroutine and must be quick.
	OnFlush func(shard int32, f FlushInfo)
	// OnRetention, if set, receives the report of every background
	// retention pass.
	OnRetention func(RetentionReport)
	// Logger receives recovery and retention reports; default discards.
	Logger *slog.Logger
	// FS is the file system for commit logs; default the real one. Tests
	// inject faults through it.
	FS vfs.FS
	// Now is the clock; default time.Now. Tests move time with it.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	if o.Dir == "" {
		return fmt.Errorf("millrace: Options.Dir is empty: %w", ErrInvalid)
	}
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 256 << 20
	}
	if o.SegmentAge == 0 {
		o.SegmentAge = time.Hour
	}
	if o.DefaultPartitions <= 0 {
		o.DefaultPartitions = 1
	}
	if o.DefaultConfig == nil {
		c := DefaultTopicConfig()
		o.DefaultConfig = &c
	}
	if o.IndexCacheBytes <= 0 {
		o.IndexCacheBytes = 64 << 20
	}
	if o.RetentionInterval <= 0 {
		o.RetentionInterval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Log is an open millrace data directory. All methods are safe for
// concurrent use. Open starts one background goroutine (retention) plus
// one flusher per shard; Close stops them all.
type Log struct {
	opts   Options
	man    *manifest.Manifest
	shards []*shard
	sync   commitlog.SyncPolicy
	// cold caches sealed segments' index entries read back for reads
	// of cold runs (see entryIndex).
	cold *coldCache

	mu      sync.RWMutex // guards topics and closed
	topics  map[string]*topic
	closed  bool
	creates sync.Mutex // serializes topic creation and deletion

	quit chan struct{}
	wg   sync.WaitGroup
	// Recovery says what Open found in the commit logs.
	Recovery []commitlog.Report
}

// topic is a topic's in-memory state. meta and parts are replaced, never
// mutated, under Log.mu.
type topic struct {
	meta  manifest.Topic
	parts []*partition
}

func (t *topic) name() string { return t.meta.Name }

func (l *Log) now() time.Time { return l.opts.Now() }

// Open opens or creates a millrace data directory, recovers it and starts
// its background work.
func Open(opts Options) (*Log, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	policy, err := commitlog.ParseSyncPolicy(opts.Fsync)
	if err != nil {
		return nil, err
	}
	if err := opts.FS.MkdirAll(opts.Dir); err != nil {
		return nil, fmt.Errorf("millrace: create data directory %s: %w", opts.Dir, err)
	}
	man, err := manifest.Open(filepath.Join(opts.Dir, "manifest.db"))
	if err != nil {
		return nil, fmt.Errorf("millrace: open manifest in %s: %w", opts.Dir, err)
	}
	l := &Log{opts: opts, man: man, sync: policy, topics: make(map[string]*topic), quit: make(chan struct{}),
		cold: newColdCache(opts.IndexCacheBytes)}
	if err := l.fixShardCount(); err != nil {
		man.Close()
		return nil, err
	}
	if err := l.recover(); err != nil {
		for _, s := range l.shards {
			if cl := s.cl(); cl != nil {
				cl.Close()
			}
		}
		man.Close()
		return nil, err
	}
	l.wg.Add(1)
	go l.retentionLoop()
	return l, nil
}

// fixShardCount records the shard count on first open and keeps it after:
// partitions are placed by it.
func (l *Log) fixShardCount() error {
	v, ok, err := l.man.GetMeta("shards")
	if err != nil {
		return fmt.Errorf("millrace: read shard count: %w", err)
	}
	if ok {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("millrace: manifest shard count %q is not a positive number", v)
		}
		if n != l.opts.Shards {
			l.opts.Logger.Info("shard count is fixed at creation; ignoring the configured one", "stored", n, "configured", l.opts.Shards)
		}
		l.opts.Shards = n
		return nil
	}
	return l.man.SetMeta("shards", strconv.Itoa(l.opts.Shards))
}

func (l *Log) shardFor(topicName string) func(int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(topicName))
	base := h.Sum32()
	return func(i int32) int32 { return int32((base + uint32(i)) % uint32(len(l.shards))) }
}

// recover loads topics from the manifest, replays every shard's commit log
// into the partition indexes, and reconciles segments with the manifest.
func (l *Log) recover() error {
	for i := range l.opts.Shards {
		l.shards = append(l.shards, newShard(l, int32(i)))
	}
	topics, err := l.man.Topics()
	if err != nil {
		return fmt.Errorf("millrace: load topics: %w", err)
	}
	byName := make(map[string]*topic, len(topics))
	for _, mt := range topics {
		t := &topic{meta: mt}
		byName[mt.Name] = t
		l.topics[mt.Name] = t
	}
	parts, err := l.man.Partitions()
	if err != nil {
		return fmt.Errorf("millrace: load partitions: %w", err)
	}
	byID := make(map[int64]*partition, len(parts))
	floors := make(map[int64]int64, len(parts))
	for _, mp := range parts {
		t := byName[mp.Topic]
		if t == nil || int(mp.Shard) >= len(l.shards) {
			return fmt.Errorf("millrace: manifest partition %d of %q refers to a missing topic or shard %d", mp.Index, mp.Topic, mp.Shard)
		}
		p := &partition{id: mp.ID, topic: t, index: mp.Index, shard: l.shards[mp.Shard], logStart: mp.LogStartOffset,
			next: mp.LogStartOffset}
		t.parts = append(t.parts, p)
		byID[p.id] = p
		floors[p.id] = mp.NextOffset
	}
	for _, s := range l.shards {
		if err := l.openShard(s, byID); err != nil {
			return err
		}
	}
	// Offsets are never reused: if retention or a cut removed a
	// partition's newest batches, the next offset stays above what the
	// manifest last recorded.
	for _, p := range byID {
		p.next = max(p.next, floors[p.id])
		p.durable.Store(p.next)
	}
	return nil
}

// openShard opens one shard's commit log, replaying it into the indexes.
func (l *Log) openShard(s *shard, byID map[int64]*partition) error {
	var skipped int64
	cl, rep, err := commitlog.Open(l.commitlogOptions(s, false), l.replayInto(s, byID, &skipped))
	if err != nil {
		return fmt.Errorf("millrace: recover shard %d: %w", s.id, err)
	}
	s.log.Store(cl)
	l.Recovery = append(l.Recovery, rep)
	l.opts.Logger.Info("shard recovered", "shard", s.id, "segments", rep.Segments, "from_index_files", rep.Indexed, "entries", rep.Entries,
		"bytes", rep.Bytes, "took", rep.Took, "skipped_deleted", skipped, "cut", rep.Cut != nil)
	return l.reconcile(s)
}

// commitlogOptions configures shard s's commit log.
func (l *Log) commitlogOptions(s *shard, dropCache bool) commitlog.Options {
	return commitlog.Options{
		FS: l.opts.FS, Dir: filepath.Join(l.opts.Dir, "shards", strconv.Itoa(int(s.id))),
		SegmentBytes: l.opts.SegmentBytes, SegmentAge: l.opts.SegmentAge, Sync: l.sync,
		MaxPendingBytes: l.opts.MaxPendingBytes, TailCacheBytes: l.opts.TailCacheBytes, DropCache: dropCache, FlusherNice: l.opts.FlusherNice,
		UnwaitedSyncDelay: l.opts.UnwaitedSyncDelay,
		IndexPrefix:       batch.HeaderSize, // all replayInto reads
		DropSealedCache:   l.opts.DropSealedPageCache,
		NoPreallocate:     !l.opts.PreallocateSegments,
		OnDurable:         onDurable, OnSeal: s.onSeal, OnIndexed: s.onIndexed, OnFlush: l.flushObserver(s), Logger: l.opts.Logger.With("shard", s.id),
	}
}

func (l *Log) flushObserver(s *shard) func(commitlog.FlushInfo) {
	if l.opts.OnFlush == nil {
		return nil
	}
	return func(f commitlog.FlushInfo) { l.opts.OnFlush(s.id, f) }
}

// replayInto returns the replay function that rebuilds the indexes, the
// producer tables and shard s's segment bookkeeping from a commit log. A
// batch of a partition not in byID (a deleted topic) is counted in skipped;
// its segment goes when unreferenced. It reads only each batch's header:
// a segment replayed from its index file hands it no more
// (commitlogOptions sets IndexPrefix to batch.HeaderSize).
func (l *Log) replayInto(s *shard, byID map[int64]*partition, skipped *int64) commitlog.ReplayFunc {
	return func(e commitlog.EntryInfo, payload []byte) error {
		p := byID[int64(e.Stream)]
		if p == nil {
			*skipped++
			return nil
		}
		h, err := batch.ReadHeader(payload)
		if err != nil {
			return fmt.Errorf("partition %d of %q: %w", p.index, p.topic.name(), err)
		}
		if p.entries.len() > 0 && h.BaseOffset < p.next {
			return nil // an offset already indexed
		}
		if h.ProducerID >= 0 {
			// Truncated batches count too: a retry of one is still a
			// duplicate.
			p.producers.Record(h.ProducerID, h.ProducerEpoch, h.BaseSequence, h.NumRecords, h.BaseOffset)
		}
		if h.LastOffset() < p.logStart {
			return nil // truncated before
		}
		ie := indexEntry{base: h.BaseOffset, last: h.LastOffset(), firstTs: h.FirstTimestamp, maxTs: h.MaxTimestamp,
			seq: e.Seq, pos: e.Pos, size: e.Size}
		// An entry replayed from its segment's index file stays there:
		// only its run's summary is kept in memory.
		newRun := p.addEntryLocked(ie, !e.Indexed)
		s.noteEntry(p, ie, int64(h.NumRecords), newRun, !e.Indexed)
		return nil
	}
}

// reconcile makes the manifest's segment rows match the files: a row
// without a file is removed, a file without a sealed row (the segment that
// was active at the crash) is recorded with the spans the replay found.
func (l *Log) reconcile(s *shard) error {
	rows, err := l.man.Segments(s.id)
	if err != nil {
		return fmt.Errorf("millrace: load segments of shard %d: %w", s.id, err)
	}
	files := make(map[uint64]commitlog.SegmentInfo)
	for _, f := range s.cl().Segments() {
		files[f.Seq] = f
	}
	for _, r := range rows {
		f, ok := files[r.Seq]
		if !ok {
			l.opts.Logger.Warn("manifest segment row without a file; removing the row", "shard", s.id, "segment", r.Seq)
			if err := l.man.DeleteSegment(s.id, r.Seq); err != nil {
				return fmt.Errorf("millrace: reconcile shard %d: %w", s.id, err)
			}
			continue
		}
		if r.Sealed && r.Bytes == f.Size && r.LastIndex == f.LastIndex {
			delete(files, r.Seq)
			s.takeSpans(r.Seq)
		}
	}
	for seq, f := range files {
		l.opts.Logger.Info("recording recovered segment in the manifest", "shard", s.id, "segment", seq, "bytes", f.Size)
		if err := s.recordSegment(f, s.takeSpans(seq)); err != nil {
			return fmt.Errorf("millrace: reconcile shard %d: %w", s.id, err)
		}
	}
	return nil
}

// Close stops background work, flushes and syncs every shard, and closes
// the files. Appends waiting for durability complete first.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	close(l.quit)
	l.wg.Wait()
	var errs []error
	for _, s := range l.shards {
		if err := s.cl().Close(); err != nil {
			errs = append(errs, fmt.Errorf("millrace: close shard %d: %w", s.id, err))
		}
	}
	if err := l.man.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
