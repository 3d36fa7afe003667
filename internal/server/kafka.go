package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/millrace/millrace"
	"github.com/millrace/millrace/internal/kafka"
)

// The Kafka protocol listener beside the HTTP API (internal/kafka): started
// after the HTTP listener, stopped before the Log is closed.

// startKafka listens on kafka_addr and serves the Kafka protocol over l.
func (s *Server) startKafka(l *millrace.Log) error {
	kcfg := kafka.Config{Logger: s.logger.With("component", "kafka"), ReadOnly: func() bool { return s.api.ReadOnly() },
		OnRequest: s.met.ObserveKafka, OnShed: func() { s.met.Shed("overloaded") }}
	if adv := s.cfg.KafkaAdvertisedAddr; adv != "" {
		host, port, err := net.SplitHostPort(adv)
		if err != nil {
			return fmt.Errorf("kafka_advertised_addr %q: %w", adv, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("kafka_advertised_addr %q: bad port: %w", adv, err)
		}
		kcfg.AdvertisedHost, kcfg.AdvertisedPort = host, int32(p)
	}
	ks, err := kafka.New(l, kcfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.KafkaAddr)
	if err != nil {
		ks.Shutdown(context.Background())
		return fmt.Errorf("listen for Kafka on %s: %w", s.cfg.KafkaAddr, err)
	}
	s.kafka, s.kafkaLn = ks, ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := ks.Serve(ln); err != nil && !errors.Is(err, kafka.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("serve Kafka on %s: %w", ln.Addr(), err)
		}
	}()
	return nil
}

// KafkaAddr returns the address the Kafka listener listens on (with the
// real port when the configured one was 0).
func (s *Server) KafkaAddr() string { return s.kafkaLn.Addr().String() }

// stopKafka stops the Kafka listener: in-flight requests finish (long
// polls end at once), bounded by ctx.
func (s *Server) stopKafka(ctx context.Context) {
	if err := s.kafka.Shutdown(ctx); err != nil {
		s.logger.Warn("Kafka requests did not finish in time; their connections were closed", "err", err)
	}
}
