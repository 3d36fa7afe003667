package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/millrace/millrace"
)

func adminClient(t *testing.T, ts *testServer) (*kadm.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return kadm.NewClient(newFranz(t, ts)), ctx
}

func TestKadmTopicAdministration(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	adm, ctx := adminClient(t, ts)
	hour := "3600000"
	if r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &hour}, "adm"); err != nil || r.Err != nil {
		t.Fatalf("create: %v / %v", err, r.Err)
	}
	if r, _ := adm.ValidateCreateTopics(ctx, 1, -1, nil, "adm-validate-only"); r["adm-validate-only"].Err != nil {
		t.Fatalf("validate-only create: %v", r["adm-validate-only"].Err)
	}
	if _, err := ts.log.Topic("adm-validate-only"); !errors.Is(err, millrace.ErrUnknownTopic) {
		t.Fatalf("a validate-only create created the topic (%v)", err)
	}
	compact := "compact"
	refusals := []struct {
		name    string
		parts   int32
		rf      int16
		configs map[string]*string
		want    error
	}{
		{"adm", 1, 1, nil, kerr.TopicAlreadyExists},
		{"adm-compact", 1, 1, map[string]*string{"cleanup.policy": &compact}, kerr.InvalidConfig},
		{"adm-unknown-config", 1, 1, map[string]*string{"flavour": &compact}, kerr.InvalidConfig},
		{"adm-rf3", 1, 3, nil, kerr.InvalidReplicationFactor},
		{"adm-zero", 0, 1, nil, kerr.InvalidPartitions},
		{"bad/name", 1, 1, nil, kerr.InvalidTopicException},
	}
	for _, tc := range refusals {
		r, err := adm.CreateTopic(ctx, tc.parts, tc.rf, tc.configs, tc.name)
		if err == nil {
			err = r.Err
		}
		if !errors.Is(err, tc.want) {
			t.Fatalf("create %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	td, err := adm.ListTopics(ctx, "adm")
	if err != nil || len(td["adm"].Partitions) != 2 {
		t.Fatalf("list: %v %+v", err, td)
	}
	if id, _, _ := ts.log.TopicID("adm"); td["adm"].ID != id {
		t.Fatalf("topic id %x, the log's is %x", td["adm"].ID, id)
	}

	cfgs := describeConfigs(t, ctx, adm, "adm")
	want := map[string][2]string{
		"retention.ms":      {"3600000", kmsg.ConfigSourceDynamicTopicConfig.String()},
		"segment.bytes":     {"1073741824", kmsg.ConfigSourceDefaultConfig.String()},
		"cleanup.policy":    {"delete", kmsg.ConfigSourceDefaultConfig.String()},
		"max.message.bytes": {"1048588", kmsg.ConfigSourceDefaultConfig.String()},
	}
	for name, w := range want {
		if got := cfgs[name]; got != w {
			t.Fatalf("config %s: %v, want %v", name, got, w)
		}
	}
	rb := "1000"
	if r, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: &rb}, {Op: kadm.DeleteConfig, Name: "retention.ms"}}, "adm"); err != nil || r[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, r)
	}
	cfgs = describeConfigs(t, ctx, adm, "adm")
	if cfgs["retention.bytes"][0] != "1000" || cfgs["retention.ms"] != [2]string{"604800000", kmsg.ConfigSourceDefaultConfig.String()} {
		t.Fatalf("after alter: %v", cfgs)
	}
	if r, _ := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: &compact}}, "adm"); !errors.Is(r[0].Err, kerr.InvalidConfig) {
		t.Fatalf("cleanup.policy=compact: %v, want INVALID_CONFIG", r[0].Err)
	}
	if r, err := adm.CreatePartitions(ctx, 2, "adm"); err != nil || r["adm"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, r)
	}
	if n, _ := ts.log.Partitions("adm"); n != 4 {
		t.Fatalf("%d partitions after adding 2 to 2", n)
	}
	if r, _ := adm.UpdatePartitions(ctx, 3, "adm"); !errors.Is(r["adm"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrinking partitions: %v, want INVALID_PARTITIONS", r["adm"].Err)
	}
	bc, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil || len(bc) != 1 || bc[0].Err != nil {
		t.Fatalf("broker configs: %v %+v", err, bc)
	}
	if r, err := adm.DeleteTopic(ctx, "adm"); err != nil || r.Err != nil {
		t.Fatalf("delete: %v %v", err, r.Err)
	}
	if _, err := ts.log.Topic("adm"); !errors.Is(err, millrace.ErrUnknownTopic) {
		t.Fatalf("topic still there after delete: %v", err)
	}
}

func describeConfigs(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[string][2]string {
	t.Helper()
	rc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil || len(rc) != 1 || rc[0].Err != nil {
		t.Fatalf("describe configs of %s: %v %+v", topic, err, rc)
	}
	out := make(map[string][2]string)
	for _, c := range rc[0].Configs {
		out[c.Key] = [2]string{c.MaybeValue(), c.Source.String()}
	}
	return out
}

func TestKadmOffsetsRecordsAndGroups(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{})
	adm, ctx := adminClient(t, ts)
	createTopic(t, ts, "offs", 1)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	cl := newFranz(t, ts, kgo.DefaultProduceTopic("offs"))
	for i := range 10 {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: t0.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, lo kadm.ListedOffsets, err error, want int64) {
		t.Helper()
		o, ok := lo.Lookup("offs", 0)
		if err != nil || !ok || o.Err != nil || o.Offset != want {
			t.Fatalf("%s: %+v (%v), want %d", what, o, err, want)
		}
	}
	lo, err := adm.ListStartOffsets(ctx, "offs")
	check("start", lo, err, 0)
	lo, err = adm.ListEndOffsets(ctx, "offs")
	check("end", lo, err, 10)
	lo, err = adm.ListOffsetsAfterMilli(ctx, t0.Add(5*time.Second).UnixMilli(), "offs")
	check("after t0+5s", lo, err, 5)
	lo, err = adm.ListMaxTimestampOffsets(ctx, "offs")
	check("max timestamp", lo, err, 9)
	ep, err := adm.OffsetForLeaderEpoch(ctx, kadm.OffsetForLeaderEpochRequest{"offs": {0: 0}})
	if e, ok := ep["offs"][0]; err != nil || !ok || e.EndOffset != 10 {
		t.Fatalf("offset for leader epoch 0: %+v %v", e, err)
	}
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"offs": {0: {Topic: "offs", Partition: 0, At: 4}}})
	if d, ok := dr.Lookup("offs", 0); err != nil || !ok || d.Err != nil || d.LowWatermark != 4 {
		t.Fatalf("delete records: %+v %v", d, err)
	}
	lo, err = adm.ListStartOffsets(ctx, "offs")
	check("start after delete records", lo, err, 4)

	// Offsets committed from outside a group, then listed, described,
	// deleted.
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "offs", Partition: 0, At: 7, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "adm-g", os); err != nil {
		t.Fatalf("commit: %v", err)
	}
	fo, err := adm.FetchOffsets(ctx, "adm-g")
	if o, ok := fo.Lookup("offs", 0); err != nil || !ok || o.At != 7 {
		t.Fatalf("fetch offsets: %+v %v", o, err)
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil || lg["adm-g"].State != "Empty" {
		t.Fatalf("list groups: %+v %v", lg, err)
	}
	dg, err := adm.DescribeGroups(ctx, "adm-g", "no-such-group")
	if err != nil || dg["adm-g"].State != "Empty" || dg["no-such-group"].State != "Dead" {
		t.Fatalf("describe groups: %+v %v", dg, err)
	}
	lag, err := adm.Lag(ctx, "adm-g")
	if l, ok := lag["adm-g"].Lag.Lookup("offs", 0); err != nil || !ok || l.Lag != 3 {
		t.Fatalf("lag: %+v %v", l, err)
	}
	if r, err := adm.DeleteOffsets(ctx, "adm-g", kadm.TopicsSet{"offs": {0: {}}}); err != nil || r.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, r.Error())
	}
	if fo, _ := adm.FetchOffsets(ctx, "adm-g"); len(fo) != 0 {
		t.Fatalf("offsets left after delete: %+v", fo)
	}
	if err := adm.CommitAllOffsets(ctx, "adm-g", os); err != nil {
		t.Fatal(err)
	}
	if r, err := adm.DeleteGroup(ctx, "adm-g"); err != nil || r.Err != nil {
		t.Fatalf("delete group: %v %v", err, r.Err)
	}
	if r, _ := adm.DeleteGroup(ctx, "adm-g"); !errors.Is(r.Err, kerr.GroupIDNotFound) {
		t.Fatalf("deleting a deleted group: %v, want GROUP_ID_NOT_FOUND", r.Err)
	}
}

func TestMetadataAutoCreatesTopicsUnlessDisabled(t *testing.T) {
	ts := startServer(t, "", Config{}, millrace.Options{DefaultPartitions: 3})
	cl := newFranz(t, ts, kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("auto"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("produce to a new topic: %v", err)
	}
	if n, err := ts.log.Partitions("auto"); err != nil || n != 3 {
		t.Fatalf("auto-created topic: %d partitions (%v), want the default 3", n, err)
	}

	off := startServer(t, "", Config{}, millrace.Options{DisableAutoCreate: true})
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("nope")}}
	resp, err := req.RequestWith(ctx, newFranz(t, off))
	if err != nil || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata with auto-create disabled: %v %+v", err, resp)
	}
}

func TestCoordinatorAndClusterRequests(t *testing.T) {
	ts := startServer(t, "", Config{NodeID: 7}, millrace.Options{})
	cl := newFranz(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{"g1", "g2"}
	fr, err := fc.RequestWith(ctx, cl)
	if err != nil || len(fr.Coordinators) != 2 || fr.Coordinators[1].NodeID != 7 || fr.Coordinators[1].ErrorCode != 0 {
		t.Fatalf("find coordinator (batched): %v %+v", err, fr)
	}
	fc.CoordinatorType = coordinatorTransaction
	if fr, _ := fc.RequestWith(ctx, cl); fr.Coordinators[0].ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("transaction coordinator: %+v, want UNSUPPORTED_VERSION", fr.Coordinators[0])
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID = kmsg.StringPtr("tx")
	if r := dialRaw(t, ts).roundTrip(ip, 1).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("transactional init producer id: code %d", r.ErrorCode)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dr, err := dc.RequestWith(ctx, cl)
	if err != nil || dr.ErrorCode != 0 || dr.ControllerID != 7 || len(dr.Brokers) != 1 || dr.ClusterID == "" {
		t.Fatalf("describe cluster: %v %+v", err, dr)
	}
	// The cluster id is kept across restarts.
	id := dr.ClusterID
	ts.restart()
	dr, err = dc.RequestWith(ctx, newFranz(t, ts))
	if err != nil || dr.ClusterID != id {
		t.Fatalf("cluster id after restart %q (%v), was %q", dr.ClusterID, err, id)
	}
}
