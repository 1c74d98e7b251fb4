package apitoken

import (
	"strings"
	"sync"
	"time"
)

// usageTracker coalesces last-used data in memory (SPEC 15): one entry per
// token and application, written to the store in batches by
// Manager.Flush. Cached API tokens keep theirs in their cache slot; this
// tracker holds the rest: tokens verified with the cache off or not in it,
// sessions, and what a slot spills when it leaves the cache.
//
// Entries are pointer-free (compactUse: the ID's bytes inline, the
// application as an index into a small table of names), so a million
// tokens verified between flushes cost the collector nothing to scan and
// keep no decoded record alive. An ID too long to inline, an application
// beyond the table's size or a time outside int64 nanoseconds goes to the
// ordinary map, other.
//
// Sessions also keep their latest activity in active, which a flush does
// not clear: a cached session record may predate its last flush, and its
// idle timeout must not jump back to that older time. Entries go when the
// session ends (forget).
type usageTracker struct {
	mu       sync.Mutex
	pending  map[compactUse]int64 // Unix nanoseconds
	appIndex map[string]uint16
	appNames []string
	other    map[usageKey]time.Time
	active   map[string]time.Time
}

type usageKey struct{ id, app string }

// maxInlineID is the longest token ID a compactUse holds; the generated
// IDs are 16 bytes.
const maxInlineID = 29

// compactUse is a (token ID, application) pair with no pointers.
type compactUse struct {
	id    [maxInlineID]byte
	idLen uint8
	app   uint16
}

// maxAppNames bounds the table of application names. Names recorded on
// tokens are bounded by Options.MaxApps per token, but across many tokens
// need not be; past the bound, entries use the ordinary map.
const maxAppNames = 1 << 12

func newUsageTracker() *usageTracker {
	return &usageTracker{pending: make(map[compactUse]int64), appIndex: make(map[string]uint16),
		other: make(map[usageKey]time.Time), active: make(map[string]time.Time)}
}

// compact returns the pointer-free key for (id, app), or false if it has
// none. u.mu must be held.
func (u *usageTracker) compact(id, app string) (compactUse, bool) {
	if len(id) > maxInlineID {
		return compactUse{}, false
	}
	a, ok := u.appIndex[app]
	if !ok {
		if len(u.appNames) >= maxAppNames {
			return compactUse{}, false
		}
		a = uint16(len(u.appNames))
		app = strings.Clone(app) // the caller's may point into a whole record
		u.appIndex[app] = a
		u.appNames = append(u.appNames, app)
	}
	k := compactUse{idLen: uint8(len(id)), app: a}
	copy(k.id[:], id)
	return k, true
}

// record keeps at as the latest use of (id, app) if it is later than the
// one held. u.mu must be held.
func (u *usageTracker) record(id string, at time.Time, app string) {
	if ns, ok := toNanos(at); ok && ns != 0 {
		if k, ok := u.compact(id, app); ok {
			if ns > u.pending[k] {
				u.pending[k] = ns
			}
			return
		}
	}
	if prev, ok := u.other[usageKey{id, app}]; !ok || at.After(prev) {
		// Copies, as an assignment stores its key: the caller's strings
		// may point into a whole record.
		u.other[usageKey{strings.Clone(id), strings.Clone(app)}] = at
	}
}

func (u *usageTracker) touch(id string, at time.Time, app string) {
	u.mu.Lock()
	u.record(id, at, app)
	u.mu.Unlock()
}

// touchSession records a session's use for the flush and for its idle
// timeout.
func (u *usageTracker) touchSession(id string, at time.Time) {
	u.mu.Lock()
	u.record(id, at, "")
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
	n := len(u.pending) + len(u.other)
	if n == 0 {
		return nil
	}
	out := make([]Touch, 0, n)
	for k, ns := range u.pending {
		out = append(out, Touch{ID: string(k.id[:k.idLen]), At: fromNanos(ns), App: u.appNames[k.app]})
	}
	for k, at := range u.other {
		out = append(out, Touch{ID: k.id, At: at, App: k.app})
	}
	if n > 1<<16 { // a burst: let its tables go rather than keep them
		u.pending, u.other = make(map[compactUse]int64), make(map[usageKey]time.Time)
	} else {
		clear(u.pending)
		clear(u.other)
	}
	return out
}

// putBack returns a batch that failed to flush, keeping newer entries.
func (u *usageTracker) putBack(batch []Touch) {
	for _, tc := range batch {
		u.touch(tc.ID, tc.At, tc.App)
	}
}
