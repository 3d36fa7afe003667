package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// setting is one value settable by flag and environment variable.
type setting struct {
	flag, env, usage string
	field            func(*Config) *string
}

// settings are the flags of millrace serve, each also an environment
// variable. --config is handled apart: it names the file.
var settings = []setting{
	{"data", "MILLRACE_DATA", "data directory", func(c *Config) *string { return &c.Data }},
	{"http-addr", "MILLRACE_HTTP_ADDR", "HTTP API listen address, HOST:PORT", func(c *Config) *string { return &c.HTTPAddr }},
	{"kafka-addr", "MILLRACE_KAFKA_ADDR", "Kafka protocol listen address, HOST:PORT", func(c *Config) *string { return &c.KafkaAddr }},
	{"kafka-advertised-addr", "MILLRACE_KAFKA_ADVERTISED_ADDR", "address Kafka clients are told to connect to, HOST:PORT (default: the listen address)",
		func(c *Config) *string { return &c.KafkaAdvertisedAddr }},
	{"pprof-addr", "MILLRACE_PPROF_ADDR", "serve Go runtime profiles (/debug/pprof/) on this HOST:PORT; empty: off", func(c *Config) *string { return &c.PprofAddr }},
	{"log-format", "MILLRACE_LOG_FORMAT", "log format: text or json", func(c *Config) *string { return &c.LogFormat }},
	{"log-level", "MILLRACE_LOG_LEVEL", "log level: debug, info, warn or error", func(c *Config) *string { return &c.LogLevel }},
}

// EnvConfig is the environment variable naming the configuration file.
const EnvConfig = "MILLRACE_CONFIG"

// Load builds the Config from, by increasing precedence: Default(), the
// file named by --config or MILLRACE_CONFIG, the MILLRACE_* environment
// variables, and the flags in args. It registers its flags on fs (whose
// name and Usage the caller sets), parses args with it, and validates the
// result. With -h or --help it returns ErrHelp (printing is the caller's,
// through fs's Usage); extra arguments are an error.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	def := Default()
	flagVals := make([]*string, len(settings))
	for i, s := range settings {
		flagVals[i] = fs.String(s.flag, *s.field(&def), fmt.Sprintf("%s (env %s)", s.usage, s.env))
	}
	configFile := fs.String("config", "", "configuration file, .yaml/.yml or .toml (env "+EnvConfig+")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, ErrHelp
		}
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (every setting is a --flag)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := def
	path := getenv(EnvConfig)
	if set["config"] {
		path = *configFile
	}
	if path != "" {
		if err := LoadFile(path, &cfg); err != nil {
			return Config{}, err
		}
	}
	for i, s := range settings {
		if v := getenv(s.env); v != "" {
			*s.field(&cfg) = v
		}
		if set[s.flag] {
			*s.field(&cfg) = *flagVals[i]
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadFile reads a configuration file over cfg: keys present in the file
// replace cfg's values, absent keys keep them. The format follows the
// extension: .yaml or .yml for YAML, .toml for TOML. Unknown keys are
// errors, so that a typo does not silently leave a default in place.
func LoadFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: read %s: %w", path, err)
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			// yaml puts each problem on its own line; keep errors on one.
			return fmt.Errorf("config: %s: %s", path, strings.ReplaceAll(err.Error(), "\n  ", " "))
		}
	case ".toml":
		md, err := toml.Decode(string(data), cfg)
		if err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("config: %s: unknown key %q", path, und[0].String())
		}
	default:
		return fmt.Errorf("config: %s: unknown extension %q (want .yaml, .yml or .toml)", path, ext)
	}
	return nil
}
