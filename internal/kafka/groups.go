package kafka

import (
	"bytes"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file and group_members.go are the consumer-group state machine of
// Kafka's classic group protocol, kept free of I/O: every method takes the
// current time, changes the group and returns the responses to send (and
// to whom). The coordinator (coordinator.go) owns the goroutine, the
// clock, the timers and the network; tests drive the group directly.
//
// States, as Kafka names them:
//
//	Empty               no members (offsets may be committed)
//	PreparingRebalance  members are (re)joining; JoinGroups are held
//	CompletingRebalance joined; SyncGroups are held until the leader assigns
//	Stable              every member has its assignment
//	Dead                deleted
//
// Transitions: a join (of a new member, or of a known one with new
// protocols, or of the leader) or a member leaving or expiring moves the
// group to PreparingRebalance. When every member has rejoined (or the
// rebalance timeout drops those that did not) the generation goes up, the
// leader gets the member list, and the group moves to CompletingRebalance
// (or to Empty if nobody is left). The leader's SyncGroup carries the
// assignments and moves the group to Stable.

// groupState is a group's state.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String returns Kafka's name for the state.
func (st groupState) String() string {
	return [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}[st]
}

// groupLimits are the coordinator's settings a group checks against.
type groupLimits struct {
	minSession, maxSession time.Duration
	initialDelay           time.Duration
}

// reply is a response the group produced for a request it was holding or
// just received. to is the request's handle, opaque to the group.
type reply struct {
	to   any
	resp kmsg.Response
}

// heldJoin is a JoinGroup waiting for the rebalance to complete.
type heldJoin struct {
	to      any
	version int16
}

// member is one member of a group.
type member struct {
	id         string
	instanceID *string // static membership (KIP-345)
	clientID   string
	clientHost string
	protocols  []kmsg.JoinGroupRequestProtocol
	session    time.Duration
	rebalance  time.Duration
	expires    time.Time // session deadline, moved by heartbeats
	join       *heldJoin // set while its JoinGroup is held
	sync       *heldJoin // set while its SyncGroup is held
	synced     bool      // sent SyncGroup in this generation
	assignment []byte
}

// group is one consumer group's state. It is not safe for concurrent use:
// the coordinator's goroutine owns it.
type group struct {
	name         string
	limits       groupLimits
	newID        func(clientID string) string
	state        groupState
	generation   int32
	protocolType string
	protocol     string
	leader       string
	members      map[string]*member
	order        []string             // member ids in join order: leader choice, listings
	pending      map[string]time.Time // ids given with MEMBER_ID_REQUIRED, until they join
	statics      map[string]string    // instance id → member id
	deadline     time.Time            // rebalance (Preparing) or sync (Completing) deadline
	delayUntil   time.Time            // initial rebalance delay of a group that was empty
}

func newGroup(name string, limits groupLimits, newID func(string) string) *group {
	return &group{name: name, limits: limits, newID: newID, members: make(map[string]*member),
		pending: make(map[string]time.Time), statics: make(map[string]string)}
}

// joinArgs is a JoinGroup request and where it came from.
type joinArgs struct {
	to         any
	version    int16
	req        *kmsg.JoinGroupRequest
	clientID   string
	clientHost string
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

func joinError(a joinArgs, memberID string, code int16) []reply {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.ErrorCode, resp.MemberID, resp.Generation = code, memberID, -1
	return []reply{{a.to, resp}}
}

// join handles a JoinGroup.
func (g *group) join(now time.Time, a joinArgs) []reply {
	req := a.req
	session, rebalance := ms(req.SessionTimeoutMillis), ms(req.RebalanceTimeoutMillis)
	if a.version == 0 {
		rebalance = session
	}
	switch {
	case g.state == stateDead:
		return joinError(a, req.MemberID, kerr.CoordinatorNotAvailable.Code)
	case session < g.limits.minSession || session > g.limits.maxSession:
		return joinError(a, req.MemberID, kerr.InvalidSessionTimeout.Code)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return joinError(a, req.MemberID, kerr.InconsistentGroupProtocol.Code)
	case len(g.members) > 0 && (req.ProtocolType != g.protocolType || !g.supports(req.Protocols)):
		return joinError(a, req.MemberID, kerr.InconsistentGroupProtocol.Code)
	}
	fill := func(m *member) {
		m.clientID, m.clientHost, m.session, m.rebalance = a.clientID, a.clientHost, session, rebalance
		m.expires = now.Add(session)
	}
	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old, ok := g.statics[*req.InstanceID]; ok {
				return g.rejoinStatic(now, a, g.members[old], fill)
			}
		} else if a.version >= 4 {
			// KIP-394: a new member first learns its id, then joins with
			// it, so that a client that times out does not leave
			// orphan members behind.
			id := g.newID(a.clientID)
			g.pending[id] = now.Add(session)
			return joinError(a, id, kerr.MemberIDRequired.Code)
		}
		m := &member{id: g.newID(a.clientID), instanceID: req.InstanceID, protocols: req.Protocols}
		fill(m)
		return g.addMember(now, m, a)
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		m := &member{id: req.MemberID, instanceID: req.InstanceID, protocols: req.Protocols}
		fill(m)
		return g.addMember(now, m, a)
	}
	m, code := g.lookup(req.MemberID, req.InstanceID)
	if m == nil {
		return joinError(a, req.MemberID, code)
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols = req.Protocols
	fill(m)
	switch g.state {
	case statePreparingRebalance:
		var out []reply
		if m.join != nil { // a retried join replaces the held one
			out = joinError(joinArgs{to: m.join.to}, m.id, kerr.RebalanceInProgress.Code)
		}
		m.join = &heldJoin{a.to, a.version}
		return append(out, g.maybeCompleteJoin(now)...)
	case stateCompletingRebalance, stateStable:
		if !changed && (g.state == stateCompletingRebalance || m.id != g.leader) {
			return []reply{{a.to, g.joinResponse(m)}} // nothing new: same generation
		}
		m.join = &heldJoin{a.to, a.version}
		return g.prepareRebalance(now)
	}
	return joinError(a, req.MemberID, kerr.UnknownMemberID.Code)
}

// rejoinStatic handles a static member that restarted (it joins with its
// instance id and no member id): it takes over its old place under a new
// member id, and the old id is fenced. Kafka's rule: no rebalance unless
// its protocols changed or it was the leader.
func (g *group) rejoinStatic(now time.Time, a joinArgs, m *member, fill func(*member)) []reply {
	var out []reply
	out = append(out, g.answerHeld(m, kerr.FencedInstanceID.Code)...)
	oldID := m.id
	m.id = g.newID(a.clientID)
	delete(g.members, oldID)
	g.members[m.id] = m
	g.statics[*m.instanceID] = m.id
	g.order[slices.Index(g.order, oldID)] = m.id
	wasLeader := g.leader == oldID
	if wasLeader {
		g.leader = m.id
	}
	changed := !sameProtocols(m.protocols, a.req.Protocols)
	m.protocols = a.req.Protocols
	fill(m)
	if g.state == stateStable && !changed && !wasLeader {
		return append(out, reply{a.to, g.joinResponse(m)})
	}
	m.join = &heldJoin{a.to, a.version}
	if g.state == statePreparingRebalance {
		return append(out, g.maybeCompleteJoin(now)...)
	}
	return append(out, g.prepareRebalance(now)...)
}

// addMember adds a member whose JoinGroup is held and starts (or joins) a
// rebalance.
func (g *group) addMember(now time.Time, m *member, a joinArgs) []reply {
	if len(g.members) == 0 {
		g.protocolType = a.req.ProtocolType
	}
	m.join = &heldJoin{a.to, a.version}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.instanceID != nil {
		g.statics[*m.instanceID] = m.id
	}
	if g.state == statePreparingRebalance {
		return g.maybeCompleteJoin(now)
	}
	return g.prepareRebalance(now)
}

// prepareRebalance moves the group to PreparingRebalance: members must
// rejoin within the largest rebalance timeout.
func (g *group) prepareRebalance(now time.Time) []reply {
	var out []reply
	if g.state == stateCompletingRebalance {
		// The assignment being synced is void: members rejoin.
		for _, id := range g.order {
			m := g.members[id]
			if m.sync != nil {
				out = append(out, syncReply(m.sync, kerr.RebalanceInProgress.Code, nil, g))
				m.sync = nil
			}
		}
	}
	if g.state == stateEmpty && g.limits.initialDelay > 0 {
		g.delayUntil = now.Add(g.limits.initialDelay)
	}
	g.state = statePreparingRebalance
	var longest time.Duration
	for _, m := range g.members {
		longest = max(longest, m.rebalance)
		m.synced = false
	}
	g.deadline = now.Add(longest)
	return append(out, g.maybeCompleteJoin(now)...)
}

// maybeCompleteJoin completes the rebalance once every member (and every
// member id handed out) has joined, unless the initial delay holds it.
func (g *group) maybeCompleteJoin(now time.Time) []reply {
	if g.state != statePreparingRebalance || now.Before(g.delayUntil) || len(g.pending) > 0 {
		return nil
	}
	for _, m := range g.members {
		if m.join == nil {
			return nil
		}
	}
	return g.completeJoin(now)
}

// completeJoin ends PreparingRebalance: members that did not rejoin are
// dropped, the generation goes up, a protocol is chosen and every held
// JoinGroup is answered; the leader's answer lists the members.
func (g *group) completeJoin(now time.Time) []reply {
	var out []reply
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; m.join == nil {
			out = append(out, g.remove(m, kerr.UnknownMemberID.Code)...)
		}
	}
	clear(g.pending)
	g.generation++
	g.delayUntil = time.Time{}
	if len(g.members) == 0 {
		g.state, g.protocol, g.protocolType, g.leader, g.deadline = stateEmpty, "", "", "", time.Time{}
		return out
	}
	g.protocol = g.selectProtocol()
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.order[0]
	}
	g.state = stateCompletingRebalance
	var longest time.Duration
	for _, id := range g.order {
		m := g.members[id]
		longest = max(longest, m.rebalance)
		out = append(out, reply{m.join.to, g.joinResponse(m)})
		m.join = nil
		m.expires = now.Add(m.session)
		m.assignment = nil
	}
	g.deadline = now.Add(longest)
	return out
}

// joinResponse is a successful JoinGroup answer for m in the current
// generation; the leader's lists every member with its metadata for the
// chosen protocol.
func (g *group) joinResponse(m *member) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Generation, resp.ProtocolType, resp.Protocol = g.generation, strp(g.protocolType), strp(g.protocol)
	resp.LeaderID, resp.MemberID = g.leader, m.id
	if m.id != g.leader {
		return resp
	}
	for _, id := range g.order {
		o := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = o.id, o.instanceID, o.metadata(g.protocol)
		resp.Members = append(resp.Members, jm)
	}
	return resp
}

// metadata returns the member's metadata for a protocol.
func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// supports says whether one of protocols is supported by every current
// member.
func (g *group) supports(protocols []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range protocols {
		all := true
		for _, m := range g.members {
			if !m.hasProtocol(p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) hasProtocol(name string) bool {
	return slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name })
}

// selectProtocol picks, among the protocols every member supports, the one
// most members prefer (Kafka's vote); ties go to the leader's preference.
func (g *group) selectProtocol() string {
	first := g.members[g.order[0]]
	votes := make(map[string]int)
	var candidates []string
	for _, p := range first.protocols {
		if g.supports([]kmsg.JoinGroupRequestProtocol{p}) {
			candidates = append(candidates, p.Name)
		}
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// sameProtocols compares two protocol lists, names and metadata, in order.
func sameProtocols(a, b []kmsg.JoinGroupRequestProtocol) bool {
	return slices.EqualFunc(a, b, func(x, y kmsg.JoinGroupRequestProtocol) bool {
		return x.Name == y.Name && bytes.Equal(x.Metadata, y.Metadata)
	})
}

// fenced says whether a request's instance id conflicts with the member's
// (KIP-345: a static member replaced by a newer instance of itself).
func fenced(m *member, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	return m.instanceID == nil || *m.instanceID != *instanceID
}
