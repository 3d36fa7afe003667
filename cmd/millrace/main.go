// Command millrace is the millrace server and its command line: see
// 'millrace --help', docs/cli.md and package internal/cli.
package main

import (
	"os"

	"github.com/millrace/millrace/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
