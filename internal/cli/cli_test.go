package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestFlagsAndArgumentsMix(t *testing.T) {
	e := &env{stdout: &bytes.Buffer{}, getenv: func(string) string { return "" }}
	fs := e.newFlags("topics", "Usage: x\n")
	n := fs.Int("partitions", 0, "")
	pos, err := fs.parse([]string{"create", "orders", "--partitions", "3"})
	if err != nil || *n != 3 || strings.Join(pos, " ") != "create orders" {
		t.Fatalf("parse: %v %d %v", err, *n, pos)
	}
	if _, err := fs.parse([]string{"--nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown flag: %v", err)
	}
	var ue *usageError
	if _, err := fs.parse([]string{"--partitions", "many"}); !errors.As(err, &ue) {
		t.Fatalf("bad value is not a usage error: %v", err)
	}
	out := e.stdout.(*bytes.Buffer)
	if _, err := fs.parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-partitions") {
		t.Fatalf("help: %v %q", err, out)
	}
}

func TestParseSince(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	for in, want := range map[string]string{"10m": "999400000", "1s": "999999000", "1970-01-01T00:00:01Z": "1000"} {
		if got, err := parseSince(in, now); err != nil || got != want {
			t.Errorf("parseSince(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseSince("yesterday", now); err == nil {
		t.Error("parseSince(yesterday) accepted")
	}
}

func TestMainExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main(nil, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "Commands:") {
		t.Fatalf("no command: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"topics", "list", "--server", "ftp://x"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "ftp://x") {
		t.Fatalf("bad server URL: %d %q", code, errb.String())
	}
	out.Reset()
	if code := Main([]string{"help", "consume"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), "--from-beginning") {
		t.Fatalf("help consume: %d %q", code, out.String())
	}
}
