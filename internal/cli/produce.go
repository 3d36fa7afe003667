package cli

import (
	"bufio"
	"bytes"
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
	"syscall"
	"time"
	"unicode/utf8"
)

const produceUsage = `Usage:
  millrace produce TOPIC [--file FILE] [--key KEY | --key-separator SEP] [--partition N] [--ack durable|memory]

Appends one record per line of stdin (or --file) to TOPIC, in batches of
--batch lines per request. Lines are values; with --key every record gets
that key, with --key-separator each line is KEY<SEP>VALUE. Records are
sent in order; a keyed record goes to the partition Kafka's partitioner
picks for its key, a keyless one to a partition the server chooses per
batch. At the end, the count and rate are printed to stderr.

Examples:
  seq 1 1000 | millrace produce numbers
  millrace produce orders --file orders.txt --key-separator ':'
  millrace produce events --key device-7 --ack memory < events.log
`

// maxBatchBytes bounds one request body, under the server's default
// max_request_bytes.
const maxBatchBytes = 4 << 20

func runProduce(e *env, args []string) error {
	fs := e.newFlags("produce", produceUsage)
	server := e.serverFlag(fs)
	file := fs.String("file", "", "read records from FILE instead of stdin")
	key := fs.String("key", "", "key of every record")
	sep := fs.String("key-separator", "", "split each line into KEY<SEP>VALUE at the first SEP")
	partition := fs.Int("partition", -1, "append every record to this partition (default: by key, else chosen by the server)")
	ack := fs.String("ack", "durable", "durable (after fsync) or memory (once accepted)")
	batchLines := fs.Int("batch", 1000, "records per request")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErrorf("produce: want exactly one topic, got %d arguments (see 'millrace produce --help')", len(pos))
	}
	topic := pos[0]
	if *ack != "durable" && *ack != "memory" {
		return usageErrorf("produce: --ack %q: want durable or memory", *ack)
	}
	if *batchLines < 1 {
		return usageErrorf("produce: --batch %d: want 1 or more", *batchLines)
	}
	if *key != "" && *sep != "" {
		return usageErrorf("produce: give --key or --key-separator, not both")
	}
	c, err := newClient(*server)
	if err != nil {
		return err
	}
	in := e.stdin
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("produce: %w", err)
		}
		defer f.Close()
		in = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := producer{c: c, path: topicPath(topic, "records") + "?ack=" + url.QueryEscape(*ack), key: *key, sep: *sep, partition: *partition}
	start := time.Now()
	r := bufio.NewReaderSize(in, 1<<20)
	var line []byte
	for {
		line, err = r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			p.add(line)
			if p.lines >= *batchLines || p.body.Len() >= maxBatchBytes {
				if err := p.flush(ctx); err != nil {
					return p.report(e, topic, start, err)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return p.report(e, topic, start, fmt.Errorf("produce: read input: %w", err))
		}
	}
	return p.report(e, topic, start, p.flush(ctx))
}

// producer accumulates an NDJSON body and sends it.
type producer struct {
	c         *client
	path      string
	key, sep  string
	partition int
	body      bytes.Buffer
	lines     int
	sent      int
}

// add appends one line as a record to the pending body.
func (p *producer) add(line []byte) {
	key, value := []byte(nil), line
	if p.key != "" {
		key = []byte(p.key)
	} else if p.sep != "" {
		if k, v, ok := bytes.Cut(line, []byte(p.sep)); ok {
			key, value = k, v
		}
	}
	b64 := !utf8.Valid(value) || !utf8.Valid(key)
	rec := struct {
		Key       *string `json:"key,omitempty"`
		Value     string  `json:"value"`
		Partition *int    `json:"partition,omitempty"`
		Encoding  string  `json:"encoding,omitempty"`
	}{Value: string(value)}
	if b64 {
		rec.Encoding, rec.Value = "base64", base64.StdEncoding.EncodeToString(value)
	}
	if key != nil {
		k := string(key)
		if b64 {
			k = base64.StdEncoding.EncodeToString(key)
		}
		rec.Key = &k
	}
	if p.partition >= 0 {
		rec.Partition = &p.partition
	}
	data, _ := json.Marshal(rec)
	p.body.Write(data)
	p.body.WriteByte('\n')
	p.lines++
}

// flush sends the pending records as one request.
func (p *producer) flush(ctx context.Context) error {
	if p.lines == 0 {
		return nil
	}
	resp, err := p.c.do(ctx, http.MethodPost, p.path, "application/x-ndjson", bytes.NewReader(p.body.Bytes()))
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted; %d records in the last batch may or may not have been appended", p.lines)
		}
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.sent += p.lines
	p.lines = 0
	p.body.Reset()
	return nil
}

// report prints the count and rate to stderr and passes err through.
func (p *producer) report(e *env, topic string, start time.Time, err error) error {
	took := time.Since(start)
	rate := float64(p.sent) / max(took.Seconds(), 1e-9)
	fmt.Fprintf(e.stderr, "produced %d records to %s in %s (%s records/s)\n", p.sent, topic,
		took.Round(time.Millisecond), strconv.FormatFloat(rate, 'f', 0, 64))
	return err
}
