package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const consumeUsage = `Usage:
  millrace consume TOPIC [--partition N] [--from-beginning | --offset N | --since TIME] [--follow] [--limit N] [--format json|value]

Reads records of TOPIC and prints them, one per line: as JSON (partition,
offset, timestamp, key, value, headers) or, with --format value, the value
alone. Without --partition, every partition is read (one after the other,
or all at once with --follow).

Where reading starts: --offset N, --since (a duration ago such as 10m or
2h, or an RFC 3339 time), or --from-beginning. By default a plain read
starts at the beginning and a --follow starts at the end (new records
only). Without --follow the command stops at the end of the data; with it,
it waits for new records until interrupted or --limit is reached.

Examples:
  millrace consume orders --format value
  millrace consume orders --partition 0 --offset 42 --limit 10
  millrace consume orders --since 10m
  millrace consume orders --follow
  millrace consume orders --from-beginning --follow --format value
`

type consumeOpts struct {
	c          *client
	topic      string
	offset     string // offset query value, "" for none
	since      string // since query value, "" for none
	follow     bool
	valueOnly  bool
	isolation  string
	limit      int64
	mu         sync.Mutex // guards out and printed
	out        *bufio.Writer
	printed    int64
	cancelLeft context.CancelFunc
}

func runConsume(e *env, args []string) error {
	fs := e.newFlags("consume", consumeUsage)
	server := e.serverFlag(fs)
	partition := fs.Int("partition", -1, "read only this partition (default: all)")
	fromBeginning := fs.Bool("from-beginning", false, "start at the first retained record")
	offset := fs.Int64("offset", -1, "start at this offset")
	since := fs.String("since", "", "start at records this recent: a duration ago (10m, 2h) or an RFC 3339 time")
	follow := fs.Bool("follow", false, "keep waiting for new records")
	format := fs.String("format", "json", "json (the whole record) or value (the value only)")
	limit := fs.Int64("limit", 0, "stop after this many records (0: no limit)")
	durable := fs.Bool("durable", false, "read only fsynced records")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("consume: want exactly one topic, got %d arguments (see 'millrace consume --help')", len(pos))
	}
	o := &consumeOpts{topic: pos[0], follow: *follow, limit: *limit, out: bufio.NewWriterSize(e.stdout, 64<<10)}
	switch *format {
	case "json":
	case "value":
		o.valueOnly = true
	default:
		return usageErrorf("consume: --format %q: want json or value", *format)
	}
	starts := 0
	if *fromBeginning {
		o.offset, starts = "earliest", starts+1
	}
	if *offset >= 0 {
		o.offset, starts = strconv.FormatInt(*offset, 10), starts+1
	}
	if *since != "" {
		if o.since, err = parseSince(*since, time.Now()); err != nil {
			return usageErrorf("consume: --since %q: %v", *since, err)
		}
		starts++
	}
	if starts > 1 {
		return usageErrorf("consume: give only one of --from-beginning, --offset and --since")
	}
	if *durable {
		o.isolation = "durable"
	}
	if o.c, err = newClient(*server); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, o.cancelLeft = context.WithCancel(ctx)
	defer o.cancelLeft()
	parts := []int32{int32(*partition)}
	if *partition < 0 {
		ti, err := o.c.describe(ctx, o.topic)
		if err != nil {
			return err
		}
		parts = parts[:0]
		for i := range ti.Partitions {
			parts = append(parts, i)
		}
	}
	defer o.out.Flush()
	if !o.follow {
		for _, p := range parts {
			if err := o.readPartition(ctx, p); err != nil || o.full() {
				return quietCancel(err)
			}
		}
		return nil
	}
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errs <- o.followPartition(ctx, p) }()
	}
	var first error
	for range parts {
		if err := quietCancel(<-errs); err != nil && first == nil {
			first = err
			o.cancelLeft()
		}
	}
	return first
}

// quietCancel turns an interruption (Ctrl-C, --limit reached) into success.
func quietCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// parseSince reads a duration ago or an RFC 3339 time, as epoch ms.
func parseSince(s string, now time.Time) (string, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return strconv.FormatInt(now.Add(-d).UnixMilli(), 10), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return strconv.FormatInt(t.UnixMilli(), 10), nil
	}
	return "", fmt.Errorf("want a duration ago (10m, 2h) or an RFC 3339 time (2025-01-02T15:04:05Z)")
}

func (o *consumeOpts) query(p int32, offset string) string {
	q := url.Values{}
	if offset != "" {
		q.Set("offset", offset)
	} else if o.since != "" {
		q.Set("since", o.since)
	} else if o.offset != "" {
		q.Set("offset", o.offset)
	}
	if o.isolation != "" {
		q.Set("isolation", o.isolation)
	}
	return topicPath(o.topic, "partitions", strconv.Itoa(int(p)), "records") + "?" + q.Encode()
}

// readPartition pages through one partition up to the high watermark seen
// at the first page.
func (o *consumeOpts) readPartition(ctx context.Context, p int32) error {
	next, end := "", int64(-1)
	for {
		path := o.query(p, next) + "&limit=1000"
		var page struct {
			Records       []json.RawMessage `json:"records"`
			NextOffset    int64             `json:"next_offset"`
			HighWatermark int64             `json:"high_watermark"`
		}
		if err := o.c.call(ctx, http.MethodGet, path, nil, &page); err != nil {
			return err
		}
		if end < 0 {
			end = page.HighWatermark
		}
		for _, r := range page.Records {
			if err := o.print(r); err != nil {
				return err
			}
		}
		if len(page.Records) == 0 || page.NextOffset >= end || o.full() {
			return nil
		}
		next = strconv.FormatInt(page.NextOffset, 10)
	}
}

// followPartition streams one partition as NDJSON until ctx ends.
func (o *consumeOpts) followPartition(ctx context.Context, p int32) error {
	resp, err := o.c.do(ctx, http.MethodGet, o.query(p, "")+"&follow=true", "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 1 {
			var probe struct {
				Error string `json:"error"`
			}
			if json.Unmarshal(line, &probe) == nil && probe.Error != "" {
				return errors.New(probe.Error)
			}
			if err := o.print(line[:len(line)-1]); err != nil {
				return err
			}
			if o.full() {
				o.cancelLeft()
				return o.flush()
			}
		}
		if r.Buffered() == 0 {
			if err := o.flush(); err != nil {
				return err
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return fmt.Errorf("the server ended the stream of partition %d (shutting down?)", p)
			}
			return fmt.Errorf("follow partition %d: %w", p, err)
		}
	}
}

// print writes one record in the chosen format; it drops records past
// --limit.
func (o *consumeOpts) print(rec []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limit > 0 && o.printed >= o.limit {
		return nil
	}
	o.printed++
	if !o.valueOnly {
		o.out.Write(rec)
		o.out.WriteByte('\n')
	} else {
		var r struct {
			Value    *string `json:"value"`
			Encoding string  `json:"encoding"`
		}
		if err := json.Unmarshal(rec, &r); err != nil {
			return fmt.Errorf("bad record from the server: %w", err)
		}
		if r.Value != nil {
			v := []byte(*r.Value)
			if r.Encoding == "base64" {
				var err error
				if v, err = base64.StdEncoding.DecodeString(*r.Value); err != nil {
					return fmt.Errorf("bad base64 value from the server: %w", err)
				}
			}
			o.out.Write(v)
		}
		o.out.WriteByte('\n')
	}
	return nil
}

// flush writes out what print buffered.
func (o *consumeOpts) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out.Flush()
}

func (o *consumeOpts) full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.limit > 0 && o.printed >= o.limit
}
