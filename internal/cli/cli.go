// Package cli is the millrace command line: `millrace serve` runs the
// server, and the other commands (topics, produce, consume, version) talk
// to a running server over its HTTP API, at --server or $MILLRACE_SERVER
// (default http://127.0.0.1:8080).
//
// Each command has its own flag.FlagSet; flags and arguments may be mixed
// in any order, every command answers --help with examples, and errors are
// one line on stderr, "millrace: ...", with exit status 1 (2 for a usage
// error). cmd/millrace/main.go only calls Main.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is the version `millrace version` reports; release builds set it
// with -ldflags "-X github.com/millrace/millrace/internal/cli.Version=v1.2.3".
var Version = "dev"

// env is the process environment: the command reads it only through
// this, so that tests can run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the server (HTTP API, data directory)", runServe},
		{"topics", "create, list, describe, alter and delete topics", runTopics},
		{"produce", "append records from stdin or a file, one per line", runProduce},
		{"consume", "read records, or follow them as they arrive", runConsume},
		{"bench", "generate load over Kafka or HTTP and report throughput and latency", runBench},
		{"version", "print the version", runVersion},
	}
}

const mainUsage = `millrace: a durable log and event server.

Usage:
  millrace <command> [flags] [arguments]

Commands:
%s
Run 'millrace <command> --help' for a command's flags and examples.

Examples:
  millrace serve --data ./millrace-data
  millrace topics create orders --partitions 3
  seq 1 5 | millrace produce orders
  millrace consume orders --format value
`

// Main runs the command line with args (without the program name) and
// returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return e.main(args)
}

func (e *env) main(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return e.main([]string{args[1], "--help"})
		}
		var list strings.Builder
		for _, c := range commands() {
			fmt.Fprintf(&list, "  %-9s %s\n", c.name, c.summary)
		}
		w := e.stdout
		if len(args) == 0 {
			w = e.stderr
		}
		fmt.Fprintf(w, mainUsage, list.String())
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return e.exit(c.run(e, args[1:]))
		}
	}
	return e.exit(usageErrorf("unknown command %q (commands: serve, topics, produce, consume, version; see 'millrace --help')", args[0]))
}

// exit prints err as one line and returns the exit status.
func (e *env) exit(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(e.stderr, "millrace: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError is a mistake in the command line itself (exit status 2).
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cmdFlags is a command's FlagSet and its help text.
type cmdFlags struct {
	*flag.FlagSet
	help func()
}

// newFlags returns the flags of a command whose --help prints usage (a
// synopsis, then the flags, then examples) to stdout. The flag package
// prints nothing itself: errors become one line from Main.
func (e *env) newFlags(name, usage string) *cmdFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	help := func() {
		synopsis, examples, _ := strings.Cut(usage, "\nExamples:\n")
		fmt.Fprintf(e.stdout, "%s\n\nFlags:\n", strings.TrimRight(synopsis, "\n"))
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		if examples != "" {
			fmt.Fprintf(e.stdout, "\nExamples:\n%s", examples)
		}
	}
	return &cmdFlags{FlagSet: fs, help: help}
}

// parse parses args, letting flags and positional arguments mix:
// `topics create orders --partitions 3` works as well as the flags-first
// form. It returns the positional arguments. On --help it prints the usage
// and returns flag.ErrHelp.
func (fs *cmdFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.help()
				return nil, flag.ErrHelp
			}
			return nil, usageErrorf("%s: %v (see 'millrace %s --help')", fs.Name(), err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// serverFlag adds --server to fs.
func (e *env) serverFlag(fs *cmdFlags) *string {
	def := e.getenv("MILLRACE_SERVER")
	if def == "" {
		def = "http://127.0.0.1:8080"
	}
	return fs.String("server", def, "server URL (env MILLRACE_SERVER)")
}

func runVersion(e *env, args []string) error {
	fs := e.newFlags("version", "Usage: millrace version\n\nPrints the version of this binary.\n")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	v := Version
	if info, ok := debug.ReadBuildInfo(); ok && v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version
	}
	fmt.Fprintf(e.stdout, "millrace %s (%s %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
