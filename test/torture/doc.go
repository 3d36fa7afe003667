// Package torture is millrace's crash-torture harness: it runs the real
// millrace binary as a child process, drives it at full speed with an
// idempotent franz-go producer (acks=all), HTTP producers (ack=durable)
// and a consumer group that commits offsets, kills the server with SIGKILL
// at random moments, restarts it, and repeats. At the end it checks that
// every acknowledged record is readable, byte-identical and in order, that
// the idempotent producer's records are there exactly once, that no offset
// was acknowledged twice, and that committed group offsets never went
// backward. It records the time from each restart to ready. Every other
// start seals 1 MiB segments, so that kills also land while segments are
// sealed and their index files written, and restarts replay from them.
//
// Run it with go test:
//
//	go test ./test/torture -run TestTorture -v                          # 20 cycles (CI)
//	MILLRACE_TORTURE_CYCLES=500 go test ./test/torture -run TestTorture -v -timeout 2h
//
// The harness builds the millrace binary itself, which go test's result
// cache cannot see: after changing the server, add -count=1.
//
// Every process and request stays on 127.0.0.1; the run is bounded by its
// cycle count and stops by itself.
package torture
