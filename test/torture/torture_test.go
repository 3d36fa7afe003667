package torture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	httpTopic  = "torture-http"
	kafkaTopic = "torture-kafka"
	group      = "torture-group"
	partitions = 4
)

// pk names a record by partition and offset.
type pk struct {
	part int32
	off  int64
}

// ledger is what the server acknowledged, kept by the harness.
type ledger struct {
	mu        sync.Mutex
	httpAcked map[pk]string // acknowledged HTTP appends
	idemAcked map[pk]string // acknowledged idempotent Kafka produces
	committed map[int32]int64
	reused    []string // an offset acknowledged twice with different values
}

func (l *ledger) ack(m map[pk]string, k pk, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := m[k]; ok && old != v {
		l.reused = append(l.reused, fmt.Sprintf("partition %d offset %d acknowledged as %q and as %q", k.part, k.off, old, v))
	}
	m[k] = v
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// server runs the millrace binary. Every other start runs with 1 MiB
// segments (smallSegments, a config file), so that segments are sealed
// under load, each one's index file written beside it while the next kill
// may come, and the restarts after replay them from those files; the
// other starts keep the default 256 MiB.
type server struct {
	t                   *testing.T
	bin, dir            string
	httpAddr, kafkaAddr string
	smallSegments       string
	starts              int
	cmd                 *exec.Cmd
	log                 *os.File
}

func (s *server) start() time.Duration {
	s.t.Helper()
	args := []string{"serve", "--data", s.dir, "--http-addr", s.httpAddr, "--kafka-addr", s.kafkaAddr}
	if s.starts%2 == 1 {
		args = append(args, "--config", s.smallSegments)
	}
	s.starts++
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := began.Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(began)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.t.Fatalf("server not ready within 60 s; see %s", s.log.Name())
	return 0
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

func TestTorture(t *testing.T) {
	if testing.Short() {
		t.Skip("torture test skipped in -short mode")
	}
	cycles := 20
	if v, err := strconv.Atoi(os.Getenv("MILLRACE_TORTURE_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	work := t.TempDir()
	bin := filepath.Join(work, "millrace")
	build := exec.Command("go", "build", "-o", bin, "github.com/millrace/millrace/cmd/millrace")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build millrace: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(work, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	small := filepath.Join(work, "small-segments.yaml")
	if err := os.WriteFile(small, []byte("segment_bytes: 1MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := &server{t: t, bin: bin, dir: filepath.Join(work, "data"), httpAddr: freePort(t), kafkaAddr: freePort(t), smallSegments: small, log: logf}
	led := &ledger{httpAcked: map[pk]string{}, idemAcked: map[pk]string{}, committed: map[int32]int64{}}

	ready := []time.Duration{srv.start()}
	createTopics(t, srv)
	producer, err := kgo.NewClient(kgo.SeedBrokers(srv.kafkaAddr), kgo.DefaultProduceTopic(kafkaTopic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1<<30), kgo.RequestRetries(1<<30),
		kgo.RetryTimeout(0), kgo.ProducerLinger(time.Millisecond), kgo.RecordDeliveryTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	var produced atomic.Int64
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	for cycle := range cycles {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); httpProducer(ctx, srv.httpAddr, led, cycle, w) }()
		}
		wg.Add(2)
		go func() { defer wg.Done(); kafkaProducer(ctx, producer, led, &produced, cycle) }()
		go func() { defer wg.Done(); groupConsumer(ctx, srv.kafkaAddr, led) }()
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		srv.kill()
		cancel()
		wg.Wait()
		ready = append(ready, srv.start())
		checkGroupOffsets(t, srv, led, cycle)
	}
	// Let the idempotent producer deliver what it still buffers (its
	// retries after the last kill are where duplicates would come from).
	fctx, fcancel := context.WithTimeout(context.Background(), 60*time.Second)
	if err := producer.Flush(fctx); err != nil {
		t.Logf("flush after the last cycle: %v", err)
	}
	fcancel()
	verify(t, srv, led)
	srv.kill()
	sort.Slice(ready, func(i, j int) bool { return ready[i] < ready[j] })
	scanned, indexed := recoveredSegments(t, logf.Name())
	t.Logf("%d kill -9 cycles; acknowledged: %d HTTP records, %d idempotent Kafka records, group commits on %d partitions; restart to ready: median %v, max %v; segments recovered over all restarts: %d from their index files, %d scanned",
		cycles, len(led.httpAcked), len(led.idemAcked), len(led.committed), ready[len(ready)/2], ready[len(ready)-1], indexed, scanned)
	if cycles >= 4 && indexed == 0 {
		t.Fatalf("no restart replayed a segment from its index file; the run did not test them")
	}
}

// recoveredSegments adds up the server's "shard recovered" log lines: the
// segments each start replayed from their index files and those it read.
func recoveredSegments(t *testing.T, logPath string) (scanned, indexed int) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	field := func(line, key string) int {
		_, v, ok := strings.Cut(line, " "+key+"=")
		if !ok {
			return 0
		}
		v, _, _ = strings.Cut(v, " ")
		n, _ := strconv.Atoi(v)
		return n
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `msg="shard recovered"`) {
			indexed += field(line, "from_index_files")
			scanned += field(line, "segments") - field(line, "from_index_files")
		}
	}
	return scanned, indexed
}

func createTopics(t *testing.T, srv *server) {
	for _, name := range []string{httpTopic, kafkaTopic} {
		body := fmt.Sprintf(`{"name":%q,"partitions":%d}`, name, partitions)
		resp, err := http.Post("http://"+srv.httpAddr+"/v1/topics", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: HTTP %d", name, resp.StatusCode)
		}
	}
}

// httpProducer appends NDJSON batches with ack=durable until ctx ends,
// recording what the server acknowledged.
func httpProducer(ctx context.Context, addr string, led *ledger, cycle, w int) {
	client := &http.Client{Timeout: 10 * time.Second}
	for n := 0; ctx.Err() == nil; n++ {
		var body bytes.Buffer
		vals := make([]string, 50)
		for i := range vals {
			vals[i] = fmt.Sprintf("h-%d-%d-%d-%d", cycle, w, n, i)
			fmt.Fprintf(&body, "{\"key\":\"k%d\",\"value\":%q}\n", (n*50+i)%64, vals[i])
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/topics/"+httpTopic+"/records?ack=durable", &body)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			continue
		}
		var out struct {
			Records []struct {
				Partition int32 `json:"partition"`
				Offset    int64 `json:"offset"`
			} `json:"records"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(out.Records) != len(vals) {
			continue
		}
		for i, r := range out.Records {
			led.ack(led.httpAcked, pk{r.Partition, r.Offset}, vals[i])
		}
	}
}

// kafkaProducer produces unique values through the idempotent client
// until ctx ends; acknowledgements arrive in the promise, possibly after
// a restart.
func kafkaProducer(ctx context.Context, cl *kgo.Client, led *ledger, produced *atomic.Int64, cycle int) {
	for ctx.Err() == nil {
		n := produced.Add(1)
		v := fmt.Sprintf("i-%d-%d", cycle, n)
		r := &kgo.Record{Key: []byte(strconv.FormatInt(n%13, 10)), Value: []byte(v)}
		// TryProduce never blocks on a full buffer (the server may be
		// down); buffered records are retried across restarts, which is
		// where an idempotent producer's duplicates would come from.
		full := false
		cl.TryProduce(context.Background(), r, func(r *kgo.Record, err error) {
			if err == nil {
				led.ack(led.idemAcked, pk{r.Partition, r.Offset}, string(r.Value))
			} else if errors.Is(err, kgo.ErrMaxBuffered) {
				full = true
			}
		})
		if full || n%512 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// groupConsumer consumes httpTopic in a group and commits synchronously,
// recording each acknowledged commit.
func groupConsumer(ctx context.Context, addr string, led *ledger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(httpTopic),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return
	}
	defer cl.CloseAllowingRebalance()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		offs := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) { offs[r.Partition] = max(offs[r.Partition], r.Offset+1) })
		if len(offs) == 0 {
			continue
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			continue
		}
		led.mu.Lock()
		for p, o := range offs {
			led.committed[p] = max(led.committed[p], o)
		}
		led.mu.Unlock()
	}
}

func checkGroupOffsets(t *testing.T, srv *server, led *ledger, cycle int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(srv.kafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("cycle %d: fetch group offsets: %v", cycle, err)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	for p, want := range led.committed {
		o, ok := got.Lookup(httpTopic, p)
		if !ok || o.At < want {
			t.Fatalf("cycle %d: partition %d: committed offset %d acknowledged, server has %d (found %v): went backward", cycle, p, want, o.At, ok)
		}
	}
}

// readAll reads a whole partition over HTTP: offset, value.
func readAll(t *testing.T, addr, topic string, part int32) map[int64]string {
	t.Helper()
	out := map[int64]string{}
	for off := int64(0); ; {
		url := fmt.Sprintf("http://%s/v1/topics/%s/partitions/%d/records?offset=%d&limit=10000&max_bytes=8388608", addr, topic, part, off)
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var rr struct {
			Records []struct {
				Offset int64  `json:"offset"`
				Value  string `json:"value"`
			} `json:"records"`
			NextOffset    int64 `json:"next_offset"`
			HighWatermark int64 `json:"high_watermark"`
		}
		if err := json.Unmarshal(body, &rr); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("read %s/%d at %d: HTTP %d %v %.200s", topic, part, off, resp.StatusCode, err, body)
		}
		for _, r := range rr.Records {
			out[r.Offset] = r.Value
		}
		if rr.NextOffset >= rr.HighWatermark || len(rr.Records) == 0 {
			return out
		}
		off = rr.NextOffset
	}
}

func verify(t *testing.T, srv *server, led *ledger) {
	t.Helper()
	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.reused) > 0 {
		t.Fatalf("offsets acknowledged twice: %v", led.reused[:min(5, len(led.reused))])
	}
	if len(led.httpAcked) == 0 || len(led.idemAcked) == 0 || len(led.committed) == 0 {
		t.Fatalf("nothing acknowledged (http %d, kafka %d, group commits on %d partitions): the run tested nothing",
			len(led.httpAcked), len(led.idemAcked), len(led.committed))
	}
	seen := map[string]int{}
	for part := int32(0); part < partitions; part++ {
		for _, topic := range []string{httpTopic, kafkaTopic} {
			recs := readAll(t, srv.httpAddr, topic, part)
			offs := make([]int64, 0, len(recs))
			for o := range recs {
				offs = append(offs, o)
			}
			sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
			for i := 1; i < len(offs); i++ {
				if offs[i] != offs[i-1]+1 {
					t.Fatalf("%s/%d: offsets not dense: %d then %d", topic, part, offs[i-1], offs[i])
				}
			}
			acked := led.httpAcked
			if topic == kafkaTopic {
				acked = led.idemAcked
				for _, v := range recs {
					seen[v]++
				}
			}
			for k, v := range acked {
				if k.part == part && recs[k.off] != v {
					t.Fatalf("%s/%d offset %d: acknowledged %q, found %q", topic, part, k.off, v, recs[k.off])
				}
			}
		}
	}
	for v, n := range seen {
		if n > 1 {
			t.Fatalf("idempotent producer's record %q stored %d times", v, n)
		}
	}
}
