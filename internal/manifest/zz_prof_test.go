package manifest

import (
	"path/filepath"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	m, _ := Open(path)
	fill(t, m, 100000)
	m.Close()
	m, _ = Open(path)
	defer m.Close()
	for _, q := range []string{
		`SELECT p.id, p.topic_id, t.name, p.idx, p.shard, p.log_start_offset, p.next_offset FROM partitions p JOIN topics t ON t.id = p.topic_id`,
		`SELECT p.id, p.topic_id, t.name, p.idx, p.shard, p.log_start_offset, p.next_offset FROM topics t JOIN partitions p ON t.id = p.topic_id ORDER BY t.name, p.idx`,
	} {
		for r := 0; r < 3; r++ {
			s := time.Now()
			rows, err := m.db.Query(q)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for rows.Next() {
				var p Partition
				rows.Scan(&p.ID, &p.TopicID, &p.Topic, &p.Index, &p.Shard, &p.LogStartOffset, &p.NextOffset)
				n++
			}
			rows.Close()
			t.Log(time.Since(s), n, q[:min(60, len(q))])
		}
	}
}
