package kafka

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group state machine, driven directly: no network, a fake clock,
// member ids "client-1", "client-2" … and requests named by tokens.

type harness struct {
	t       *testing.T
	g       *group
	now     time.Time
	ids     int
	replies map[string]kmsg.Response
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, now: time.Unix(1000, 0), replies: make(map[string]kmsg.Response)}
	h.g = newGroup("g", groupLimits{minSession: time.Second, maxSession: time.Minute}, func(cid string) string {
		h.ids++
		return fmt.Sprintf("%s-%d", cid, h.ids)
	})
	return h
}

func (h *harness) collect(rs []reply) {
	h.t.Helper()
	for _, r := range rs {
		tok := r.to.(string)
		if _, dup := h.replies[tok]; dup {
			h.t.Fatalf("request %s answered twice", tok)
		}
		h.replies[tok] = r.resp
	}
}

// take returns (and forgets) the response to tok, failing if none yet.
func (h *harness) take(tok string) kmsg.Response {
	h.t.Helper()
	r, ok := h.replies[tok]
	if !ok {
		h.t.Fatalf("request %s not answered (state %v)", tok, h.g.state)
	}
	delete(h.replies, tok)
	return r
}

func (h *harness) held(tok string) bool { _, ok := h.replies[tok]; return !ok }

func (h *harness) join(tok, memberID string, instance *string, protocols ...string) {
	h.t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.ProtocolType = "g", memberID, instance, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 30000
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: p, Metadata: []byte(p)})
	}
	h.collect(h.g.join(h.now, joinArgs{to: tok, version: 5, req: req, clientID: "client"}))
}

func (h *harness) joinResp(tok string) *kmsg.JoinGroupResponse {
	h.t.Helper()
	return h.take(tok).(*kmsg.JoinGroupResponse)
}

// newMember joins a new dynamic member the KIP-394 way (MEMBER_ID_REQUIRED,
// then again with the id) and returns its id; its second join is tok.
func (h *harness) newMember(tok string, protocols ...string) string {
	h.t.Helper()
	h.join(tok+"-0", "", nil, protocols...)
	r := h.joinResp(tok + "-0")
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		h.t.Fatalf("first join: code %v id %q, want MEMBER_ID_REQUIRED and an id", kerr.ErrorForCode(r.ErrorCode), r.MemberID)
	}
	h.join(tok, r.MemberID, nil, protocols...)
	return r.MemberID
}

func (h *harness) sync(tok, memberID string, gen int32, assign map[string]string) {
	h.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = "g", memberID, gen
	for m, a := range assign {
		req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m, MemberAssignment: []byte(a)})
	}
	h.collect(h.g.sync(h.now, tok, 5, req))
}

func (h *harness) syncResp(tok string) *kmsg.SyncGroupResponse {
	h.t.Helper()
	return h.take(tok).(*kmsg.SyncGroupResponse)
}

func (h *harness) heartbeat(memberID string, gen int32) int16 {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = "g", memberID, gen
	return h.g.heartbeat(h.now, req)
}

func (h *harness) advance(d time.Duration) {
	h.now = h.now.Add(d)
	h.collect(h.g.tick(h.now))
}

func (h *harness) wantState(st groupState, gen int32) {
	h.t.Helper()
	if h.g.state != st || h.g.generation != gen {
		h.t.Fatalf("group is %v at generation %d, want %v at %d", h.g.state, h.g.generation, st, gen)
	}
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), kerr.ErrorForCode(want))
	}
}

// stable makes a Stable group of one member and returns its id.
func (h *harness) stable() string {
	h.t.Helper()
	a := h.newMember("a")
	h.joinResp("a")
	h.sync("a-sync", a, h.g.generation, map[string]string{a: "all"})
	h.syncResp("a-sync")
	h.wantState(stateStable, 1)
	return a
}

func TestGroupFirstMemberGetsAnIDThenLeadsGenerationOne(t *testing.T) {
	h := newHarness(t)
	a := h.newMember("a")
	h.wantState(stateCompletingRebalance, 1)
	r := h.joinResp("a")
	if r.LeaderID != a || r.MemberID != a || len(r.Members) != 1 || *r.Protocol != "range" {
		t.Fatalf("join response %+v: want a leading alone with protocol range", r)
	}
	h.sync("a-sync", a, 1, map[string]string{a: "p0,p1"})
	h.wantState(stateStable, 1)
	if s := h.syncResp("a-sync"); s.ErrorCode != 0 || string(s.MemberAssignment) != "p0,p1" {
		t.Fatalf("sync response %+v", s)
	}
	wantCode(t, "heartbeat", h.heartbeat(a, 1), 0)
}

func TestGroupSecondMemberTriggersARebalance(t *testing.T) {
	h := newHarness(t)
	a := h.stable()
	b := h.newMember("b")
	h.wantState(statePreparingRebalance, 1)
	if !h.held("b") {
		t.Fatalf("b's join was answered before a rejoined")
	}
	wantCode(t, "a's heartbeat during the rebalance", h.heartbeat(a, 1), kerr.RebalanceInProgress.Code)
	h.join("a2", a, nil)
	h.wantState(stateCompletingRebalance, 2)
	ra, rb := h.joinResp("a2"), h.joinResp("b")
	if ra.LeaderID != a || len(ra.Members) != 2 || len(rb.Members) != 0 || rb.Generation != 2 {
		t.Fatalf("a (leader) got %d members, b got %d, generation %d", len(ra.Members), len(rb.Members), rb.Generation)
	}
	h.sync("b-sync", b, 2, nil)
	if !h.held("b-sync") {
		t.Fatalf("b's sync was answered before the leader's")
	}
	h.sync("a-sync2", a, 2, map[string]string{a: "p0", b: "p1"})
	h.wantState(stateStable, 2)
	if got := string(h.syncResp("b-sync").MemberAssignment); got != "p1" {
		t.Fatalf("b was assigned %q, want p1", got)
	}
	if got := string(h.syncResp("a-sync2").MemberAssignment); got != "p0" {
		t.Fatalf("a was assigned %q, want p0", got)
	}
}

func TestGroupMemberLeavingRebalancesTheRest(t *testing.T) {
	h := newHarness(t)
	a := h.stable()
	b := h.newMember("b")
	h.join("a2", a, nil)
	h.joinResp("a2")
	h.joinResp("b")
	h.sync("a-s", a, 2, map[string]string{a: "p0", b: "p1"})
	h.sync("b-s", b, 2, nil)
	h.syncResp("a-s")
	h.syncResp("b-s")
	resp, rs := h.g.leave(h.now, 3, &kmsg.LeaveGroupRequest{Group: "g", Members: []kmsg.LeaveGroupRequestMember{{MemberID: b}}})
	h.collect(rs)
	if resp.Members[0].ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(resp.Members[0].ErrorCode))
	}
	h.wantState(statePreparingRebalance, 2)
	h.join("a3", a, nil)
	h.wantState(stateCompletingRebalance, 3)
	if r := h.joinResp("a3"); len(r.Members) != 1 {
		t.Fatalf("after b left the leader sees %d members", len(r.Members))
	}
}

func TestGroupLastMemberLeavingEmptiesIt(t *testing.T) {
	h := newHarness(t)
	a := h.stable()
	_, rs := h.g.leave(h.now, 1, &kmsg.LeaveGroupRequest{Group: "g", MemberID: a})
	h.collect(rs)
	h.wantState(stateEmpty, 2)
	if !h.g.idle() {
		t.Fatalf("an empty group with nothing pending should be idle")
	}
	wantCode(t, "heartbeat of the member that left", h.heartbeat(a, 1), kerr.UnknownMemberID.Code)
}

func TestGroupSessionExpiryRemovesSilentMembers(t *testing.T) {
	h := newHarness(t)
	a := h.stable()
	h.advance(9 * time.Second)
	wantCode(t, "heartbeat at 9 s", h.heartbeat(a, 1), 0)
	h.advance(9 * time.Second) // 9 s after the heartbeat: still alive
	h.wantState(stateStable, 1)
	h.advance(2 * time.Second) // 11 s: the 10 s session is over
	h.wantState(stateEmpty, 2)
}

func TestGroupRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	h := newHarness(t)
	a := h.stable()
	h.newMember("b")
	h.wantState(statePreparingRebalance, 1)
	// a keeps heartbeating but never rejoins within the 30 s rebalance timeout.
	for range 5 {
		h.advance(6 * time.Second)
		h.heartbeat(a, 1)
	}
	h.advance(time.Second)
	h.wantState(stateCompletingRebalance, 2)
	if r := h.joinResp("b"); r.LeaderID != r.MemberID || len(r.Members) != 1 {
		t.Fatalf("b should lead alone after a was dropped: %+v", r)
	}
	wantCode(t, "a's heartbeat", h.heartbeat(a, 1), kerr.UnknownMemberID.Code)
}

func TestGroupSyncTimeoutDropsMembersThatNeverSync(t *testing.T) {
	h := newHarness(t)
	a := h.newMember("a")
	h.joinResp("a")
	h.advance(31 * time.Second) // the leader never syncs
	h.wantState(stateEmpty, 2)
	wantCode(t, "a's heartbeat", h.heartbeat(a, 1), kerr.UnknownMemberID.Code)
}

func TestStaticMemberRestartKeepsItsPlaceWithoutARebalance(t *testing.T) {
	h := newHarness(t)
	inst := "instance-1"
	a := h.stable()
	h.join("s", "", &inst)
	h.join("a2", a, nil)
	rs, ra := h.joinResp("s"), h.joinResp("a2")
	h.sync("a-s", a, 2, map[string]string{a: "p0", rs.MemberID: "p1"})
	h.sync("s-s", rs.MemberID, 2, nil)
	h.syncResp("a-s")
	h.syncResp("s-s")
	h.wantState(stateStable, 2)
	_ = ra
	// The static member restarts: same instance id, no member id.
	h.join("s2", "", &inst)
	r := h.joinResp("s2")
	h.wantState(stateStable, 2)
	if r.ErrorCode != 0 || r.MemberID == rs.MemberID || r.Generation != 2 {
		t.Fatalf("static rejoin: %+v, want a new member id in the same generation", r)
	}
	h.sync("s2-s", r.MemberID, 2, nil)
	if got := string(h.syncResp("s2-s").MemberAssignment); got != "p1" {
		t.Fatalf("static member kept assignment %q, want p1", got)
	}
	req := kmsg.NewPtrHeartbeatRequest()
	req.MemberID, req.Generation, req.InstanceID = rs.MemberID, 2, &inst
	wantCode(t, "the old instance's heartbeat", h.g.heartbeat(h.now, req), kerr.FencedInstanceID.Code)
}

func TestGroupChoosesAProtocolEveryMemberSupports(t *testing.T) {
	h := newHarness(t)
	a := h.newMember("a", "range", "roundrobin")
	h.joinResp("a")
	h.sync("a-s", a, 1, nil)
	h.syncResp("a-s")
	h.newMember("b", "roundrobin")
	h.join("a2", a, nil, "range", "roundrobin")
	if r := h.joinResp("a2"); *r.Protocol != "roundrobin" {
		t.Fatalf("protocol %q, want roundrobin (the only one b supports)", *r.Protocol)
	}
}

func TestGroupJoinValidation(t *testing.T) {
	h := newHarness(t)
	h.stable()
	tests := []struct {
		name string
		mod  func(*kmsg.JoinGroupRequest)
		want int16
	}{
		{"session too short", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 10 }, kerr.InvalidSessionTimeout.Code},
		{"session too long", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 3600000 }, kerr.InvalidSessionTimeout.Code},
		{"other protocol type", func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }, kerr.InconsistentGroupProtocol.Code},
		{"no common protocol", func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Name = "sticky" }, kerr.InconsistentGroupProtocol.Code},
		{"unknown member", func(r *kmsg.JoinGroupRequest) { r.MemberID = "nobody" }, kerr.UnknownMemberID.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.ProtocolType, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
			req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
			tc.mod(req)
			rs := h.g.join(h.now, joinArgs{to: "x", version: 5, req: req})
			wantCode(t, tc.name, rs[0].resp.(*kmsg.JoinGroupResponse).ErrorCode, tc.want)
		})
	}
}

func TestGroupOffsetCommitChecks(t *testing.T) {
	h := newHarness(t)
	wantCode(t, "admin commit to an empty group", h.g.commitCheck(h.now, -1, "", nil), 0)
	a := h.stable()
	tests := []struct {
		name   string
		gen    int32
		member string
		want   int16
	}{
		{"the member, current generation", 1, a, 0},
		{"the member, old generation", 0, a, kerr.IllegalGeneration.Code},
		{"an unknown member", 1, "nobody", kerr.UnknownMemberID.Code},
		{"admin commit to a live group", -1, "", kerr.IllegalGeneration.Code},
	}
	for _, tc := range tests {
		wantCode(t, tc.name, h.g.commitCheck(h.now, tc.gen, tc.member, nil), tc.want)
	}
	h.newMember("b")
	h.join("a2", a, nil)
	wantCode(t, "commit while completing the rebalance", h.g.commitCheck(h.now, 2, a, nil), kerr.RebalanceInProgress.Code)
}

func TestGroupUnusedMemberIDExpires(t *testing.T) {
	h := newHarness(t)
	h.join("x", "", nil)
	if r := h.joinResp("x"); r.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("code %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if h.g.idle() {
		t.Fatalf("a group with a member id handed out is not idle")
	}
	h.advance(11 * time.Second)
	if !h.g.idle() {
		t.Fatalf("the unused member id should have expired after the session timeout")
	}
}

func TestGroupShutdownAnswersHeldRequests(t *testing.T) {
	h := newHarness(t)
	h.stable()
	h.newMember("b") // held: a has not rejoined
	h.collect(h.g.shutdown())
	wantCode(t, "held join at shutdown", h.joinResp("b").ErrorCode, kerr.NotCoordinator.Code)
}
