// Package usage is the usage tracker: it coalesces last-used times of
// tokens that have no verification cache slot (behaviour rule 16), for the
// Manager to flush to the store in batches.
package usage

import (
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/apitoken/apitoken/internal/unixnano"
)

// Tracker coalesces last-used data in memory (behaviour rule 16): one entry per
// token and application, written to the store in batches by
// Manager.Flush. It is safe for concurrent use. Cached API tokens keep theirs in their cache slot; this
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
// A use is appended to log, in arrival order, rather than written into
// pending at once. With many distinct tokens pending is large (a million
// 40-byte entries, plus the map's slack), and an update lands at a random
// place in it: a cache miss on every cold verification, several times
// what the append costs.
// A full log (usageLogSize entries) is handed to the Manager's background
// loop (Wake, FoldWaiting), which folds it into pending, keeping the
// latest time per pair. When a second log fills while one still waits,
// the loop has fallen behind: the caller that filled it folds both, so
// memory stays bounded, and lets go of mu while it does (a fold of 4,096
// uses into a map of a million takes milliseconds), so other verifiers
// go on appending to a fresh log meanwhile. Take folds whatever remains
// first, and waits for any fold in progress, so a flush misses nothing.
//
// Sessions also keep their latest activity in active, which a flush does
// not clear: a cached session record may predate its last flush, and its
// idle timeout must not jump back to that older time. Entries go when the
// session ends (Forget).
//
// Lock order: mu, then pendMu.
type Tracker struct {
	mu       sync.Mutex
	log      []usageEntry // uses not yet folded, oldest first
	waiting  []usageEntry // a full log handed to FoldWaiting; nil if none
	spare    []usageEntry // an emptied log to reuse
	wake     chan struct{}
	appIndex map[string]uint16
	appNames []string
	other    map[usageKey]time.Time
	active   map[string]time.Time
	addrs    map[string]addrUse // the latest client address per token

	pendMu       sync.Mutex
	pending      map[compactUse]int64 // Unix nanoseconds
	sparePending map[compactUse]int64 // an emptied table to reuse, or nil
}

// usageEntry is one use in a log.
type usageEntry struct {
	key compactUse
	ns  int64 // Unix nanoseconds
}

// usageLogSize is how many uses a log holds before it is folded: 160 KB,
// small enough to stay in cache while it fills.
const usageLogSize = 4096

type usageKey struct{ id, app string }

// addrUse is a token's latest client address and when it was seen.
type addrUse struct {
	at   time.Time
	addr netip.Addr
}

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

// New returns an empty Tracker.
func New() *Tracker {
	return &Tracker{pending: make(map[compactUse]int64), appIndex: make(map[string]uint16),
		other: make(map[usageKey]time.Time), active: make(map[string]time.Time), addrs: make(map[string]addrUse),
		wake: make(chan struct{}, 1)}
}

// compact returns the pointer-free key for (id, app), or false if it has
// none. u.mu must be held.
func (u *Tracker) compact(id, app string) (compactUse, bool) {
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
// one held. u.mu must be held; record may let it go and take it again
// (see logFull).
func (u *Tracker) record(id string, at time.Time, app string) {
	if ns, ok := unixnano.Of(at); ok && ns != 0 {
		if k, ok := u.compact(id, app); ok {
			u.log = append(u.log, usageEntry{k, ns})
			if len(u.log) >= usageLogSize {
				u.logFull()
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

// Touch records a use of token id by application app at time at.
func (u *Tracker) Touch(id string, at time.Time, app string) {
	u.mu.Lock()
	u.record(id, at, app)
	u.mu.Unlock()
}

// TouchFrom is Touch for a use from client address addr, which it keeps
// as the token's latest address if the use is its latest.
func (u *Tracker) TouchFrom(id string, at time.Time, app string, addr netip.Addr) {
	u.mu.Lock()
	u.record(id, at, app)
	u.recordAddr(id, at, addr)
	u.mu.Unlock()
}

// TouchAddr keeps addr as token id's latest client address, seen at at,
// unless a later one is held.
func (u *Tracker) TouchAddr(id string, at time.Time, addr netip.Addr) {
	u.mu.Lock()
	u.recordAddr(id, at, addr)
	u.mu.Unlock()
}

// recordAddr is TouchAddr with u.mu held.
func (u *Tracker) recordAddr(id string, at time.Time, addr netip.Addr) {
	if !addr.IsValid() {
		return
	}
	if prev, ok := u.addrs[id]; ok {
		if !at.Before(prev.at) {
			u.addrs[id] = addrUse{at, addr}
		}
		return
	}
	u.addrs[strings.Clone(id)] = addrUse{at, addr}
}

// TakeAddrs hands every token's latest client address to add, and clears
// them. A flush takes them before Take's uses, so that a store applying
// the batch in order sees each address before the uses that follow it.
func (u *Tracker) TakeAddrs(add func(id string, at time.Time, addr netip.Addr)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, a := range u.addrs {
		add(id, a.at, a.addr)
	}
	if len(u.addrs) > 1<<16 {
		u.addrs = make(map[string]addrUse)
	} else {
		clear(u.addrs)
	}
}

// TouchSession records a session's use for the flush and for its idle
// timeout.
func (u *Tracker) TouchSession(id string, at time.Time) {
	u.mu.Lock()
	u.record(id, at, "")
	if at.After(u.active[id]) {
		u.active[id] = at
	}
	u.mu.Unlock()
}

// Last returns a session's latest activity seen by this process.
func (u *Tracker) Last(id string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	t, ok := u.active[id]
	return t, ok
}

// Forget drops a session's activity once it has ended.
func (u *Tracker) Forget(id string) {
	u.mu.Lock()
	delete(u.active, id)
	u.mu.Unlock()
}

// ForgetIdle drops the idle clock of every session last active before
// before: such sessions have ended, so the map holds live sessions only.
func (u *Tracker) ForgetIdle(before time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for id, at := range u.active {
		if at.Before(before) {
			delete(u.active, id)
		}
	}
}

// logFull hands the full log to FoldWaiting, or, if the previous one
// still waits, folds both here. u.mu must be held; a fold here lets it go
// and takes it again.
func (u *Tracker) logFull() {
	if u.waiting != nil {
		waiting, full := u.waiting, u.log
		u.waiting, u.log, u.spare = nil, u.spare, nil // the loop, when it wakes, finds nothing
		// As in FoldWaiting: pendMu before mu is let go, so a take waits
		// for this fold.
		u.pendMu.Lock()
		u.mu.Unlock()
		u.foldLocked(waiting)
		u.foldLocked(full)
		u.pendMu.Unlock()
		u.mu.Lock()
		if u.spare == nil {
			u.spare = full[:0]
		}
		return
	}
	u.waiting, u.log, u.spare = u.log, u.spare, nil
	select {
	case u.wake <- struct{}{}:
	default: // already signalled
	}
}

// Waiting reports whether a full log waits for FoldWaiting.
func (u *Tracker) Waiting() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.waiting != nil
}

// Wake signals that a full log waits for FoldWaiting.
func (u *Tracker) Wake() <-chan struct{} { return u.wake }

// FoldWaiting folds a full log handed over by logFull into pending. The
// Manager's background loop calls it when Wake fires.
func (u *Tracker) FoldWaiting() {
	u.mu.Lock()
	full := u.waiting
	if full == nil { // Take got there first
		u.mu.Unlock()
		return
	}
	// pendMu is taken before mu is let go, so a Take from here on waits
	// for this fold, and a flush misses none of it.
	u.pendMu.Lock()
	u.waiting = nil
	u.mu.Unlock()
	u.foldLocked(full)
	u.pendMu.Unlock()
	u.mu.Lock()
	u.spare = full[:0]
	u.mu.Unlock()
}

// foldLocked keeps each use in log in pending if it is the latest of its
// pair. u.pendMu must be held.
func (u *Tracker) foldLocked(log []usageEntry) {
	for _, e := range log {
		if e.ns > u.pending[e.key] {
			u.pending[e.key] = e.ns
		}
	}
}

// Take hands every pending use to add, the latest per token and
// application, and clears them.
//
// It detaches the pending tables under the locks and calls add with
// neither held: add builds the caller's batch (a million uses take
// milliseconds), and meanwhile a verification's Touch, a session's Last
// and the verification cache's spill, which runs under the cache's write
// lock, would all wait for mu. Uses recorded meanwhile go to fresh tables
// for the next Take.
func (u *Tracker) Take(add func(id string, at time.Time, app string)) {
	u.mu.Lock()
	// Every use in the tables was recorded before this point, so the
	// names it refers to are in this slice (names are only appended).
	names := u.appNames
	waiting, log, other := u.waiting, u.log, u.other
	u.waiting, u.log, u.spare = nil, u.spare, nil
	if len(other) > 0 {
		u.other = make(map[usageKey]time.Time)
	} else {
		other = nil
	}
	u.pendMu.Lock() // waits for a fold in progress; taken before mu is let go, as in FoldWaiting
	u.mu.Unlock()
	u.foldLocked(waiting)
	u.foldLocked(log)
	pending := u.pending
	if len(pending) > 0 {
		u.pending = u.sparePending
		u.sparePending = nil
		if u.pending == nil {
			u.pending = make(map[compactUse]int64)
		}
	} else {
		pending = nil
	}
	u.pendMu.Unlock()
	u.mu.Lock()
	if u.spare == nil {
		u.spare = log[:0]
	}
	u.mu.Unlock()

	for k, ns := range pending {
		add(string(k.id[:k.idLen]), unixnano.Time(ns), names[k.app])
	}
	for k, at := range other {
		add(k.id, at, k.app)
	}
	if pending != nil && len(pending) <= 1<<16 { // a burst's table is let go rather than kept
		clear(pending)
		u.pendMu.Lock()
		if u.sparePending == nil {
			u.sparePending = pending
		}
		u.pendMu.Unlock()
	}
}
