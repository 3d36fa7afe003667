package kafka

import (
	"container/heap"
	"crypto/rand"
	"fmt"
	"sync"
	"time"
)

// coordinator runs every consumer group's state machine (groups.go) on one
// goroutine: handlers hand it closures with do, it applies them in order,
// sends the responses the groups produce, and keeps one timer for the
// earliest group deadline (session expiry, rebalance and sync timeouts)
// in a heap. Groups live in memory while they have members; committed
// offsets live in the manifest and outlast them.
type coordinator struct {
	s      *Server
	limits groupLimits
	events chan func(now time.Time)
	quit   chan struct{}
	done   chan struct{} // closed when run returns
	once   sync.Once

	// Owned by run's goroutine.
	groups    map[string]*group
	timers    timerHeap
	scheduled map[string]time.Time // each group's deadline in timers
}

func newCoordinator(s *Server) *coordinator {
	c := &coordinator{
		s: s,
		limits: groupLimits{minSession: s.cfg.GroupMinSessionTimeout, maxSession: s.cfg.GroupMaxSessionTimeout,
			initialDelay: s.cfg.GroupInitialRebalanceDelay},
		events: make(chan func(time.Time)), quit: make(chan struct{}), done: make(chan struct{}),
		groups: make(map[string]*group), scheduled: make(map[string]time.Time),
	}
	go c.run()
	return c
}

// do runs fn on the coordinator's goroutine and waits for it. It returns
// false, without running fn, once the coordinator has stopped. A panic in
// fn is raised again in the caller (a connection's handler, whose
// connection it closes), leaving the coordinator running.
func (c *coordinator) do(fn func(now time.Time)) bool {
	ran := make(chan any, 1)
	ev := func(now time.Time) {
		defer func() { ran <- recover() }()
		fn(now)
	}
	select {
	case c.events <- ev:
	case <-c.done:
		return false
	}
	if v := <-ran; v != nil {
		panic(v)
	}
	return true
}

// stop answers every held request with NOT_COORDINATOR and ends the
// goroutine.
func (c *coordinator) stop() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
}

func (c *coordinator) run() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if len(c.timers) > 0 {
			timer.Reset(max(time.Until(c.timers[0].at), 0))
		} else {
			timer.Stop()
		}
		select {
		case fn := <-c.events:
			fn(time.Now())
		case now := <-timer.C:
			c.safely(func() { c.fire(now) })
		case <-c.quit:
			for _, g := range c.groups {
				c.dispatch(g.shutdown())
			}
			return
		}
	}
}

// safely runs fn, logging a panic instead of losing every group.
func (c *coordinator) safely(fn func()) {
	defer func() {
		if v := recover(); v != nil {
			c.s.reportPanic(v, "where", "group coordinator")
		}
	}()
	fn()
}

// group returns the named group, creating it if create is set (else nil).
func (c *coordinator) group(name string, create bool) *group {
	g := c.groups[name]
	if g == nil && create {
		g = newGroup(name, c.limits, newMemberID)
		c.groups[name] = g
	}
	return g
}

// after files a group's next deadline after a change, and forgets a group
// left with nothing to keep.
func (c *coordinator) after(g *group) {
	if g.idle() {
		delete(c.groups, g.name)
		delete(c.scheduled, g.name)
		return
	}
	d := g.nextDeadline()
	if d.IsZero() {
		delete(c.scheduled, g.name)
		return
	}
	if cur, ok := c.scheduled[g.name]; ok && cur.Equal(d) {
		return
	}
	c.scheduled[g.name] = d
	heap.Push(&c.timers, timerEntry{at: d, group: g.name})
}

// fire ticks the groups whose deadlines passed. Heap entries that no
// longer match their group's scheduled deadline are stale and skipped.
func (c *coordinator) fire(now time.Time) {
	for len(c.timers) > 0 && !c.timers[0].at.After(now) {
		e := heap.Pop(&c.timers).(timerEntry)
		if cur, ok := c.scheduled[e.group]; !ok || !cur.Equal(e.at) {
			continue
		}
		delete(c.scheduled, e.group)
		if g := c.groups[e.group]; g != nil {
			c.dispatch(g.tick(now))
			c.after(g)
		}
	}
}

// dispatch sends the responses a group produced.
func (c *coordinator) dispatch(replies []reply) {
	for _, rp := range replies {
		rp.to.(*request).respond(rp.resp)
	}
}

// newMemberID returns a member id as Kafka makes them: the client id, a
// dash and a random UUID.
func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// timerEntry is one group deadline in the coordinator's heap.
type timerEntry struct {
	at    time.Time
	group string
}

// timerHeap is a min-heap of deadlines (container/heap).
type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
