package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

// handleFindCoordinator names this node as every group's coordinator.
// Transaction coordinators are refused (no transactions), and so are other
// key types (share groups).
func handleFindCoordinator(s *Server, r *request) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	answer := func() (node int32, h string, p int32, code int16, msg *string) {
		switch req.CoordinatorType {
		case coordinatorGroup:
			return s.cfg.NodeID, host, port, 0, nil
		case coordinatorTransaction:
			return -1, "", -1, errorCode(errNoTransactions), errorMessage(errNoTransactions)
		}
		return -1, "", -1, kerr.InvalidRequest.Code, strp("millrace coordinates consumer groups only (key type 0)")
	}
	if r.version < 4 {
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = answer()
		r.respond(resp)
		return
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port, c.ErrorCode, c.ErrorMessage = answer()
		resp.Coordinators = append(resp.Coordinators, c)
	}
	r.respond(resp)
}
