package kafka

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleInitProducerID gives an idempotent producer a new producer id,
// durable in the manifest so that none is reused after a restart, at epoch
// 0. A producer that asks to bump its epoch (KIP-360) gets a new id too,
// which clients accept. Transactional ids are refused: millrace has no
// transaction coordinator.
func handleInitProducerID(s *Server, r *request) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = errorCode(errNoTransactions)
		r.respond(resp)
		return
	}
	id, err := s.log.NextProducerID()
	if err != nil {
		s.logger.Error("kafka: allocating a producer id failed", "remote", r.c.remote, "err", err)
		resp.ErrorCode = errorCode(err)
		r.respond(resp)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	r.respond(resp)
}
