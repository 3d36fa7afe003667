package kafka

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The rest of the group state machine (see groups.go): SyncGroup,
// Heartbeat, LeaveGroup, timers, offset-commit checks and descriptions.

func syncReply(h *heldJoin, code int16, assignment []byte, g *group) reply {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.ErrorCode, resp.MemberAssignment = code, assignment
	if code == 0 {
		resp.ProtocolType, resp.Protocol = strp(g.protocolType), strp(g.protocol)
	}
	return reply{h.to, resp}
}

// lookup finds the member a request names, or the error code for it: a
// static member's old id (replaced by a newer instance of itself) is
// fenced, other unknown ids are unknown.
func (g *group) lookup(memberID string, instanceID *string) (*member, int16) {
	m := g.members[memberID]
	switch {
	case m != nil && fenced(m, instanceID):
		return nil, kerr.FencedInstanceID.Code
	case m != nil:
		return m, 0
	case instanceID != nil && g.statics[*instanceID] != "":
		return nil, kerr.FencedInstanceID.Code
	}
	return nil, kerr.UnknownMemberID.Code
}

// sync handles a SyncGroup: held until the leader's arrives, whose
// assignments make the group Stable and answer every held SyncGroup.
func (g *group) sync(now time.Time, to any, version int16, req *kmsg.SyncGroupRequest) []reply {
	h := &heldJoin{to, version}
	m, code := g.lookup(req.MemberID, req.InstanceID)
	fail := func(code int16) []reply { return []reply{syncReply(h, code, nil, g)} }
	switch {
	case g.state == stateDead:
		return fail(kerr.CoordinatorNotAvailable.Code)
	case m == nil:
		return fail(code)
	case req.Generation != g.generation:
		return fail(kerr.IllegalGeneration.Code)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType, req.Protocol != nil && *req.Protocol != g.protocol:
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m.expires = now.Add(m.session)
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		return []reply{syncReply(h, 0, m.assignment, g)}
	case stateCompletingRebalance:
		var out []reply
		if m.sync != nil { // a retried sync replaces the held one
			out = append(out, syncReply(m.sync, kerr.RebalanceInProgress.Code, nil, g))
		}
		m.sync, m.synced = h, true
		if m.id != g.leader {
			return out
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		g.state, g.deadline = stateStable, time.Time{}
		for _, id := range g.order {
			if o := g.members[id]; o.sync != nil {
				out = append(out, syncReply(o.sync, 0, o.assignment, g))
				o.sync = nil
			}
		}
		return out
	}
	return fail(kerr.UnknownMemberID.Code)
}

// heartbeat handles a Heartbeat and returns its error code. It moves the
// member's session deadline.
func (g *group) heartbeat(now time.Time, req *kmsg.HeartbeatRequest) int16 {
	m, code := g.lookup(req.MemberID, req.InstanceID)
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case m == nil:
		return code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	m.expires = now.Add(m.session)
	if g.state == statePreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leave handles a LeaveGroup: one member (v0-v2) or a batch, each by
// member id or instance id (v3+).
func (g *group) leave(now time.Time, version int16, req *kmsg.LeaveGroupRequest) (*kmsg.LeaveGroupResponse, []reply) {
	resp := kmsg.NewPtrLeaveGroupResponse()
	if g.state == stateDead {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp, nil
	}
	leaving := req.Members
	if version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	var out []reply
	removed := false
	for _, w := range leaving {
		id, code := w.MemberID, int16(0)
		if w.InstanceID != nil {
			cur, ok := g.statics[*w.InstanceID]
			switch {
			case !ok:
				code = kerr.UnknownMemberID.Code
			case id != "" && id != cur:
				code = kerr.FencedInstanceID.Code
			default:
				id = cur
			}
		}
		if code == 0 {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
				removed = true
			} else if m := g.members[id]; m != nil {
				out = append(out, g.remove(m, kerr.UnknownMemberID.Code)...)
				removed = true
			} else {
				code = kerr.UnknownMemberID.Code
			}
		}
		if version >= 3 {
			lm := kmsg.NewLeaveGroupResponseMember()
			lm.MemberID, lm.InstanceID, lm.ErrorCode = w.MemberID, w.InstanceID, code
			resp.Members = append(resp.Members, lm)
		} else {
			resp.ErrorCode = code
		}
	}
	if removed {
		out = append(out, g.membersChanged(now)...)
	}
	return resp, out
}

// membersChanged reacts to members leaving or expiring: those who remain
// rebalance.
func (g *group) membersChanged(now time.Time) []reply {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		return g.prepareRebalance(now)
	case statePreparingRebalance:
		return g.maybeCompleteJoin(now)
	}
	return nil
}

// remove drops a member, answering its held requests with code.
func (g *group) remove(m *member, code int16) []reply {
	out := g.answerHeld(m, code)
	delete(g.members, m.id)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == m.id })
	if m.instanceID != nil && g.statics[*m.instanceID] == m.id {
		delete(g.statics, *m.instanceID)
	}
	return out
}

// answerHeld answers a member's held JoinGroup and SyncGroup with code.
func (g *group) answerHeld(m *member, code int16) []reply {
	var out []reply
	if m.join != nil {
		out = append(out, joinError(joinArgs{to: m.join.to}, m.id, code)...)
		m.join = nil
	}
	if m.sync != nil {
		out = append(out, syncReply(m.sync, code, nil, g))
		m.sync = nil
	}
	return out
}

// tick applies the deadlines that passed by now: member ids never used,
// sessions without heartbeats, the rebalance timeout (members that did not
// rejoin are dropped) and the sync timeout (members that did not sync are
// dropped and the rest rebalance).
func (g *group) tick(now time.Time) []reply {
	var out []reply
	changed := false
	for id, at := range g.pending {
		if !now.Before(at) {
			delete(g.pending, id)
			changed = true
		}
	}
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.join == nil && !now.Before(m.expires) {
			out = append(out, g.remove(m, kerr.UnknownMemberID.Code)...)
			changed = true
		}
	}
	switch g.state {
	case statePreparingRebalance:
		if !now.Before(g.deadline) {
			return append(out, g.completeJoin(now)...)
		}
		return append(out, g.maybeCompleteJoin(now)...)
	case stateCompletingRebalance:
		if !now.Before(g.deadline) {
			for _, id := range slices.Clone(g.order) {
				if m := g.members[id]; !m.synced {
					out = append(out, g.remove(m, kerr.UnknownMemberID.Code)...)
				}
			}
			return append(out, g.prepareRebalance(now)...)
		}
	}
	if changed {
		out = append(out, g.membersChanged(now)...)
	}
	return out
}

// nextDeadline is when tick next has something to do; zero if never.
func (g *group) nextDeadline() time.Time {
	var d time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, at := range g.pending {
		consider(at)
	}
	for _, m := range g.members {
		if m.join == nil {
			consider(m.expires)
		}
	}
	if g.state == statePreparingRebalance || g.state == stateCompletingRebalance {
		consider(g.deadline)
	}
	if g.state == statePreparingRebalance {
		consider(g.delayUntil)
	}
	return d
}

// idle says whether the group holds nothing worth keeping in memory.
func (g *group) idle() bool {
	return g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0
}

// commitCheck validates an OffsetCommit against the group and returns its
// error code; a valid commit from a member moves its session deadline.
// Generation -1 with no member id is a commit from outside the group
// (an admin tool, a consumer without a group), allowed only while the
// group is Empty.
func (g *group) commitCheck(now time.Time, generation int32, memberID string, instanceID *string) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if generation < 0 && memberID == "" && g.state == stateEmpty {
		return 0
	}
	m, code := g.lookup(memberID, instanceID)
	switch {
	case code == kerr.FencedInstanceID.Code:
		return code
	case m == nil && (generation >= 0 || memberID != ""):
		return kerr.UnknownMemberID.Code
	case generation != g.generation:
		return kerr.IllegalGeneration.Code
	case g.state == stateCompletingRebalance:
		return kerr.RebalanceInProgress.Code
	}
	if m != nil {
		m.expires = now.Add(m.session)
	}
	return 0
}

// describe summarizes the group for DescribeGroups; members' metadata and
// assignments are given only when Stable, as Kafka does.
func (g *group) describe() kmsg.DescribeGroupsResponseGroup {
	dg := kmsg.NewDescribeGroupsResponseGroup()
	dg.Group, dg.State, dg.ProtocolType, dg.Protocol = g.name, g.state.String(), g.protocolType, g.protocol
	for _, id := range g.order {
		m := g.members[id]
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		if g.state == stateStable {
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(g.protocol), m.assignment
		}
		dg.Members = append(dg.Members, dm)
	}
	return dg
}

// subscribed returns the topics the members of a consumer-protocol group
// subscribe to (decoded from their join metadata).
func (g *group) subscribed() map[string]bool {
	topics := make(map[string]bool)
	if g.protocolType != "consumer" {
		return topics
	}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if md.ReadFrom(m.metadata(g.protocol)) == nil {
			for _, t := range md.Topics {
				topics[t] = true
			}
		}
	}
	return topics
}

// shutdown answers every held request with NOT_COORDINATOR: clients look
// for the coordinator again, and find it after the restart.
func (g *group) shutdown() []reply {
	var out []reply
	for _, id := range g.order {
		out = append(out, g.answerHeld(g.members[id], kerr.NotCoordinator.Code)...)
	}
	return out
}
