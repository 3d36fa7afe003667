package millrace

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs this test binary as a child process that appends with
// durable acks and prints each acknowledgement, kills it with SIGKILL at a
// random moment, reopens the directory, and checks that every acknowledged
// record is there, byte-identical, with dense offsets that were never
// reused. It repeats for MILLRACE_CRASH_CYCLES cycles (default 30).

const crashTopic = "crash"
const crashPartitions = 4

func crashValue(seed int64, i int) []byte {
	return []byte(fmt.Sprintf("seed=%d rec=%d %s", seed, i, bytes.Repeat([]byte{byte('a' + seed%26)}, int(seed%97))))
}

// TestCrashChild is the child's body; it does nothing unless run by
// TestCrashRecoveryKill9.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("MILLRACE_CRASH_CHILD")
	if dir == "" {
		t.Skip("only runs as the crash test's child process")
	}
	l, err := Open(Options{Dir: dir, Shards: 2, SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	if _, err := l.CreateTopic(crashTopic, crashPartitions, nil); err != nil && !isExists(err) {
		fmt.Fprintln(os.Stderr, "child create:", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	var out sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	base := time.Now().UnixNano()
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := int64(0); ; n++ {
				seed := base + n*16 + int64(g)
				part := int32(seed % crashPartitions)
				count := 1 + int(seed%20)
				rs := make([]Record, count)
				for i := range rs {
					rs[i] = Record{Key: []byte(strconv.Itoa(i)), Value: crashValue(seed, i)}
				}
				res, err := l.Append(context.Background(), crashTopic, part, rs, AppendOptions{})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					continue
				}
				out.Lock()
				fmt.Fprintf(w, "ack %d %d %d %d\n", part, res.BaseOffset, count, seed)
				w.Flush()
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

func isExists(err error) bool { return errors.Is(err, ErrTopicExists) }

type ack struct {
	base  int64
	count int
	seed  int64
}

func TestCrashRecoveryKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	cycles := 30
	if v, err := strconv.Atoi(os.Getenv("MILLRACE_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	dir := t.TempDir()
	acked := make(map[int32][]ack)
	total := 0
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for cycle := range cycles {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), "MILLRACE_CRASH_CHILD="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("cycle %d: child did not start: %q %s", cycle, sc.Text(), stderr.String())
		}
		delay := time.Duration(5+rng.IntN(150)) * time.Millisecond
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		n := 0
		for sc.Scan() {
			var a ack
			var part int32
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &part, &a.base, &a.count, &a.seed); err != nil {
				continue
			}
			acked[part] = append(acked[part], a)
			n++
		}
		timer.Stop()
		cmd.Wait()
		total += n
		verifyCrashDir(t, dir, acked, cycle)
	}
	t.Logf("%d kill -9 cycles, %d acknowledged appends verified after each", cycles, total)
	if total == 0 {
		t.Fatal("no append was acknowledged in any cycle: the test tested nothing")
	}
}

// verifyCrashDir reopens dir and checks every acknowledged append.
func verifyCrashDir(t *testing.T, dir string, acked map[int32][]ack, cycle int) {
	t.Helper()
	l, err := Open(Options{Dir: dir, Shards: 2, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatalf("cycle %d: reopen after kill: %v", cycle, err)
	}
	defer l.Close()
	for part := int32(0); part < crashPartitions; part++ {
		start, hw, _, err := l.Watermarks(crashTopic, part)
		if err != nil {
			if len(acked[part]) == 0 {
				continue
			}
			t.Fatalf("cycle %d: partition %d: %v", cycle, part, err)
		}
		got := make([]Record, 0, hw-start)
		for off := start; off < hw; {
			rs, res, err := l.Read(crashTopic, part, off, ReadOptions{MaxRecords: 100000, MaxBytes: 8 << 20})
			if err != nil {
				t.Fatalf("cycle %d: read partition %d at %d: %v", cycle, part, off, err)
			}
			got = append(got, rs...)
			off = res.NextOffset
		}
		for i, r := range got {
			if r.Offset != start+int64(i) {
				t.Fatalf("cycle %d: partition %d: record %d has offset %d: offsets not dense", cycle, part, i, r.Offset)
			}
		}
		for _, a := range acked[part] {
			for i := range a.count {
				off := a.base + int64(i)
				if off < start || off >= hw {
					t.Fatalf("cycle %d: partition %d: acknowledged offset %d lost (log %d..%d)", cycle, part, off, start, hw)
				}
				if r := got[off-start]; !bytes.Equal(r.Value, crashValue(a.seed, i)) {
					t.Fatalf("cycle %d: partition %d offset %d: got %q, acknowledged %q", cycle, part, off, r.Value, crashValue(a.seed, i))
				}
			}
		}
	}
}
