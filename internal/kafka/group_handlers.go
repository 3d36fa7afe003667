package kafka

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group membership APIs: each hands the request to the coordinator's
// goroutine, where the group's state machine decides; JoinGroup and
// SyncGroup may be answered later, when the rebalance gets there.

// clientHost is the member's host as Kafka shows it: "/" and the IP.
func (c *conn) clientHost() string {
	host, _, err := net.SplitHostPort(c.remote)
	if err != nil {
		host = c.remote
	}
	return "/" + host
}

func handleJoinGroup(s *Server, r *request) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	if req.Group == "" {
		r.respond(joinError(joinArgs{}, req.MemberID, kerr.InvalidGroupID.Code)[0].resp)
		return
	}
	a := joinArgs{to: r, version: r.version, req: req, clientID: r.clientID, clientHost: r.c.clientHost()}
	ok := s.coord.do(func(now time.Time) {
		g := s.coord.group(req.Group, true)
		s.coord.dispatch(g.join(now, a))
		s.coord.after(g)
	})
	if !ok {
		r.respond(joinError(a, req.MemberID, kerr.NotCoordinator.Code)[0].resp)
	}
}

func handleSyncGroup(s *Server, r *request) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	ok := s.coord.do(func(now time.Time) {
		g := s.coord.group(req.Group, true)
		s.coord.dispatch(g.sync(now, r, r.version, req))
		s.coord.after(g)
	})
	if !ok {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = kerr.NotCoordinator.Code
		r.respond(resp)
	}
}

func handleHeartbeat(s *Server, r *request) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = kerr.NotCoordinator.Code
	s.coord.do(func(now time.Time) {
		g := s.coord.group(req.Group, true)
		resp.ErrorCode = g.heartbeat(now, req)
		s.coord.after(g)
	})
	r.respond(resp)
}

func handleLeaveGroup(s *Server, r *request) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	var resp *kmsg.LeaveGroupResponse
	ok := s.coord.do(func(now time.Time) {
		g := s.coord.group(req.Group, true)
		var replies []reply
		resp, replies = g.leave(now, r.version, req)
		s.coord.dispatch(replies)
		s.coord.after(g)
	})
	if !ok {
		resp = kmsg.NewPtrLeaveGroupResponse()
		resp.ErrorCode = kerr.NotCoordinator.Code
	}
	r.respond(resp)
}

func handleDescribeGroups(s *Server, r *request) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		var dg kmsg.DescribeGroupsResponseGroup
		found := false
		ok := s.coord.do(func(time.Time) {
			if g := s.coord.group(name, false); g != nil {
				dg, found = g.describe(), true
			}
		})
		switch {
		case !ok:
			dg = kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = name, kerr.NotCoordinator.Code
		case !found:
			dg = s.describeStored(name)
		}
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = allGroupOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	r.respond(resp)
}

// allGroupOperations: READ 3, DELETE 6, DESCRIBE 8.
const allGroupOperations = 1<<3 | 1<<6 | 1<<8

// describeStored describes a group without members: Empty if it has
// committed offsets (a consumer group, since only those commit), Dead if
// it is unknown.
func (s *Server) describeStored(name string) kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group, dg.State = name, stateDead.String()
	offs, err := s.log.GroupOffsets(name)
	switch {
	case err != nil:
		dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
	case len(offs) > 0:
		dg.State, dg.ProtocolType = stateEmpty.String(), "consumer"
	}
	return dg
}

func handleListGroups(s *Server, r *request) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	live := make(map[string]bool)
	ok := s.coord.do(func(time.Time) {
		for name, g := range s.coord.groups {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, g.protocolType, g.state.String(), "classic"
			resp.Groups = append(resp.Groups, lg)
			live[name] = true
		}
	})
	stored, err := s.log.Groups()
	if !ok || err != nil {
		resp.ErrorCode, resp.Groups = kerr.CoordinatorNotAvailable.Code, nil
		r.respond(resp)
		return
	}
	for _, name := range stored {
		if !live[name] {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, "consumer", stateEmpty.String(), "classic"
			resp.Groups = append(resp.Groups, lg)
		}
	}
	if len(req.StatesFilter) > 0 {
		resp.Groups = slices.DeleteFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool {
			return !slices.ContainsFunc(req.StatesFilter, func(st string) bool { return strings.EqualFold(st, g.GroupState) })
		})
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	r.respond(resp)
}

// handleDeleteGroups deletes groups without members: their committed
// offsets go from the manifest.
func handleDeleteGroups(s *Server, r *request) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = name
		dg.ErrorCode = s.deleteGroup(name)
		if dg.ErrorCode != 0 {
			dg.ErrorMessage = strp(kerr.ErrorForCode(dg.ErrorCode).Error() + ": group " + name)
		}
		resp.Groups = append(resp.Groups, dg)
	}
	r.respond(resp)
}

func (s *Server) deleteGroup(name string) int16 {
	var code int16
	live := false
	ok := s.coord.do(func(time.Time) {
		if g := s.coord.group(name, false); g != nil {
			if !g.idle() {
				code = kerr.NonEmptyGroup.Code
				return
			}
			live = true
			delete(s.coord.groups, name)
		}
	})
	if !ok {
		return kerr.NotCoordinator.Code
	}
	if code != 0 {
		return code
	}
	offs, err := s.log.GroupOffsets(name)
	if err != nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	if len(offs) == 0 && !live {
		return kerr.GroupIDNotFound.Code
	}
	if err := s.log.DeleteGroupOffsets(name, "", -1); err != nil {
		s.logger.Error("kafka: deleting group offsets failed", "group", name, "err", err)
		return kerr.CoordinatorNotAvailable.Code
	}
	s.logger.Info("kafka: deleted group", "group", name)
	return 0
}
