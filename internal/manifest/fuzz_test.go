package manifest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOpen hands Open arbitrary bytes as a manifest file, and, after a
// valid manifest, arbitrary bytes over part of it: Open must either work
// or return an error, never panic, and a manifest it opens must answer
// Topics and Partitions.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	good := filepath.Join(dir, "good.db")
	m, err := Open(good)
	if err != nil {
		f.Fatal(err)
	}
	m.CreateTopic("seed", 2, DefaultTopicConfig(), nil)
	m.Close()
	valid, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{}, 0)
	f.Add([]byte("SQLite format 3\x00"), 0)
	f.Add(valid[:100], 0)
	f.Add([]byte("garbage"), 4096)
	f.Add([]byte{0xff, 0xff}, 16)
	f.Fuzz(func(t *testing.T, data []byte, at int) {
		path := filepath.Join(t.TempDir(), "m.db")
		content := data
		if at > 0 && at < len(valid) {
			// Overwrite part of a valid manifest.
			content = append([]byte{}, valid...)
			copy(content[at:], data)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(path)
		if err != nil {
			return
		}
		defer m.Close()
		m.Topics()
		m.Partitions()
	})
}
