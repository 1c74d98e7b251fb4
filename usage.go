package apitoken

import (
	"sync"
	"time"
)

// usageTracker coalesces last-used data in memory (SPEC 15): one map entry
// per token and application, written to the store in batches by
// Manager.Flush.
//
// Sessions also keep their latest activity in active, which a flush does
// not clear: a cached session record may predate its last flush, and its
// idle timeout must not jump back to that older time. Entries go when the
// session ends (forget).
type usageTracker struct {
	mu      sync.Mutex
	pending map[usageKey]time.Time
	active  map[string]time.Time
}

type usageKey struct{ id, app string }

func newUsageTracker() *usageTracker {
	return &usageTracker{pending: make(map[usageKey]time.Time), active: make(map[string]time.Time)}
}

func (u *usageTracker) touch(id string, at time.Time, app string) {
	k := usageKey{id, app}
	u.mu.Lock()
	if at.After(u.pending[k]) {
		u.pending[k] = at
	}
	u.mu.Unlock()
}

// touchSession records a session's use for the flush and for its idle
// timeout.
func (u *usageTracker) touchSession(id string, at time.Time) {
	k := usageKey{id, ""}
	u.mu.Lock()
	if at.After(u.pending[k]) {
		u.pending[k] = at
	}
	if at.After(u.active[id]) {
		u.active[id] = at
	}
	u.mu.Unlock()
}

// last returns a session's latest activity seen by this process.
func (u *usageTracker) last(id string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.active[id]
	return t, ok
}

// forget drops a session's activity once it has ended.
func (u *usageTracker) forget(id string) {
	u.mu.Lock()
	delete(u.active, id)
	u.mu.Unlock()
}

func (u *usageTracker) take() []Touch {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) == 0 {
		return nil
	}
	out := make([]Touch, 0, len(u.pending))
	for k, at := range u.pending {
		out = append(out, Touch{ID: k.id, At: at, App: k.app})
	}
	clear(u.pending)
	return out
}

// putBack returns a batch that failed to flush, keeping newer entries.
func (u *usageTracker) putBack(batch []Touch) {
	for _, tc := range batch {
		u.touch(tc.ID, tc.At, tc.App)
	}
}
