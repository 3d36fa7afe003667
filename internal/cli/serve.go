package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
)

const serveUsage = `Usage:
  millrace serve [--data DIR] [--http-addr HOST:PORT] [--kafka-addr HOST:PORT] [--config FILE] [--log-format text|json] [--log-level LEVEL]

Runs the server: a single node keeping its data in --data, serving the
HTTP API on --http-addr. Each flag can also be given as an environment
variable (MILLRACE_DATA, MILLRACE_HTTP_ADDR, ...); flags beat the
environment, which beats the configuration file (YAML or TOML, by
extension), which beats the defaults. The file holds every other setting:
fsync policy, shards, memory bounds, segment size and age, default topic
config, auto-create, min_free_disk_bytes, retention interval; see
docs/configuration.md.

SIGTERM or SIGINT stops the server gracefully: in-flight requests finish
(up to shutdown_timeout), then everything accepted is flushed and fsynced.

Examples:
  millrace serve
  millrace serve --data /var/lib/millrace --http-addr 0.0.0.0:8080
  MILLRACE_LOG_FORMAT=json millrace serve --config /etc/millrace.yaml
`

func runServe(e *env, args []string) error {
	fs := e.newFlags("serve", serveUsage)
	cfg, err := config.Load(fs.FlagSet, args, e.getenv)
	if errors.Is(err, config.ErrHelp) {
		fs.help()
		return nil
	}
	if err != nil {
		return usageErrorf("serve: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return server.Run(ctx, server.Options{Config: cfg, Logger: server.NewLogger(cfg, e.stderr), Version: Version})
}
