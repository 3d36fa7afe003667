// Package kafka serves the Kafka wire protocol over a millrace.Log, so that
// Kafka clients and tools (franz-go, librdkafka/kcat, the Java clients,
// sarama, kafka-go, kafkajs …) work against millrace unchanged.
//
// Requests and responses are decoded and encoded by franz-go's kmsg,
// generated from Kafka's own message definitions: this package holds the
// broker logic only. The one thing read by hand is the request header
// (api key, version, correlation id, client id), as any Kafka broker must
// to know which message follows.
//
// # Layout
//
// One file per API, as in franz-go's kfake:
//
//	server.go        Config, Server: listeners, connection limit, Shutdown
//	conn.go          a connection: framing, header, dispatch, ordered responses
//	api_versions.go  the table of served APIs and versions; ApiVersions
//	errors.go        engine errors → Kafka error codes
//	metadata.go      Metadata (auto-creation, topic ids)
//	produce.go       Produce
//	fetch.go         Fetch (long polling)
//	fetch_frame.go   a Fetch response sent without copying its batches
//	list_offsets.go, offset_for_leader_epoch.go, delete_records.go
//	init_producer_id.go  idempotent producer ids
//	find_coordinator.go
//	groups.go, group_members.go  the consumer-group state machine (no I/O)
//	coordinator.go   the goroutine and timers that run the groups
//	group_handlers.go    JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//	                     DescribeGroups, ListGroups, DeleteGroups
//	offset_commit.go, offset_fetch.go, offset_delete.go
//	admin.go         CreateTopics, DeleteTopics, CreatePartitions, DescribeCluster
//	configs.go, topic_configs.go  DescribeConfigs, IncrementalAlterConfigs, AlterConfigs
//
// # A connection
//
// Each connection has a reader goroutine and a writer goroutine. The
// reader reads a frame (a 4-byte size, then that many bytes, read as they
// arrive rather than allocated up front), decodes it and calls the API's
// handler. A handler answers now or later (a long-polling fetch, a
// produce waiting for its fsync, a JoinGroup held for a rebalance). A
// response ready when its handler returns, with nothing earlier left to
// write, is written by the reader at once; any other gets a slot at the
// tail of the connection's queue, and the writer writes the slots'
// responses strictly in queue order. Either way pipelined requests are
// answered in the order they were sent. At most 128 responses per
// connection wait in the queue; past that the reader stops reading.
// Every request is reported to Config.OnRequest with its time from being
// read whole to its response written. Frames over Config.MaxFrameBytes, malformed requests and
// unknown API keys close the connection (Kafka does the same); a decoded
// request for an API or version that is not served gets that API's
// response with UNSUPPORTED_VERSION. A panic closes the connection, not
// the server.
//
// # How a produce request flows
//
//  1. The reader decodes the ProduceRequest; each partition's Records is a
//     slice of the frame buffer (no copy).
//  2. handleProduce, still on the reader goroutine, appends each
//     partition's single record batch with Log.AppendBatchAsync:
//     the log validates it (CRC, sizes), checks the idempotent producer's
//     sequence, stamps the base offset into the bytes in place and copies
//     them into its commit log's group-commit buffer. Doing this on the
//     reader keeps a pipelining producer's batches in order.
//  3. acks=0: no response. acks=1: answered now (unless
//     AcksOneWaitsForFsync). acks=all: no goroutine waits; each batch's
//     millrace.Durability gets a callback (Notify) that the shard's
//     flusher runs as it completes the group commit (one fsync per shard
//     serves them all), and the last one in answers; a batch whose write
//     or fsync failed gets KAFKA_STORAGE_ERROR, and one not durable by
//     the request's timeout REQUEST_TIMED_OUT (produceAnswer). The
//     response's structs are the last one the connection wrote, reused.
//  4. Errors map to per-partition codes (errors.go). Overload
//     (ErrOverloaded) is REQUEST_TIMED_OUT with ThrottleMillis set from
//     millrace.RetryAfter, so clients back off and retry; the connection
//     stays up.
//
// A fetch reads stored batches with Log.ReadBatches and puts their bytes
// into the response as they are; with less than MinBytes it waits on
// Log.Wait for every fetched partition at once, until data arrives or
// MaxWaitMillis passes. A response with 64 KiB of batches or more is sent
// as one writev of its encoded fields and the batches where they lie
// (fetch_frame.go): the batches are never copied into a frame buffer, and
// their read buffers are reused once sent.
//
// # Consumer groups
//
// The classic group protocol runs in memory: a group's members, its
// generation and its assignments are lost at restart, and members simply
// rejoin. Committed offsets are stored durably in the manifest and
// survive. See groups.go for the states and transitions.
//
// # Not supported
//
// Transactions (transactional ids, read_committed means "fsynced" here),
// SASL and TLS, ACLs, quotas, the KIP-848 consumer protocol, share groups,
// fetch sessions (every fetch is a full fetch), log compaction.
package kafka
