// Package cache is the verification cache: what verification needs of
// recently verified tokens, flattened into pointer-free slots, so that a hot
// token costs no store read (behaviour rule 17), and their pending
// last-used times (behaviour rule 16).
//
// It knows nothing of the token model: the Manager flattens a token and
// its owner into an Entry, with its kind, owner, privilege and application
// states as the root package's one-byte values, and reads them back from a
// View.
package cache

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/apitoken/apitoken/internal/unixnano"
)

// cache holds what verification needs of recently verified tokens, so that
// a hot token costs no store read (behaviour rule 17), and their pending last-used
// times (behaviour rule 16).
//
// # Layout
//
// Nothing in the cache holds a pointer per entry, so a collection with a
// million cached tokens has next to nothing to trace. Entries are
// fixed-size slots in one slice; their strings (ID, account, user ID,
// application names) are bytes in a few large arena chunks; an index of
// 64-bit entries (keyIndex) and a map of 64-bit keys to slot indexes find
// them.
//
// A slot is 128 bytes, two cache lines, and holds everything a hit on a
// token with one application reads, that application's record included,
// so a hit on a cold token reads the index's line and the slot's two
// adjacent lines, and nothing else. The strings a verification
// returns point into the arena. Arena bytes are never written after they
// are appended (compaction copies live bytes to fresh chunks), so those
// strings stay valid and immutable for as long as a caller keeps them.
//
// # Keys
//
// A slot is found by its token's cache key, SHA-256 of the token string,
// and by its store hash (the root package's keyed hash of the token), which is what
// invalidations name.
// Using plain SHA-256 on the hot path saves the HMAC's second compression
// and costs no secrecy: the HMAC key protects hashes at rest, while the
// cache is process memory that holds the key itself. The index and the map
// key on the last 8 bytes of a hash (mapKey), and the slot keeps the whole
// cache key, which every lookup compares. Keys that share those bytes can
// both be indexed; in byHash a second token whose mapKey collides evicts
// the first, so every slot can be reached both ways.
//
// # Consistency
//
// Correctness rests on a generation counter: a reader notes the generation
// before reading the store and may insert only if no invalidation happened
// since. Every mutation invalidates after its store write and before it
// returns, so no verification that starts after a mutation returns can see
// the old record, and no slow reader can put the old record back. A user
// token's slot names its owner's user slot and that slot's sequence
// number; invalidating the user retires the sequence and with it every
// such token slot.
//
// While a shared store's change feed is down (fallback mode) slots are
// stamped with a deadline fallbackTTL ahead and not served after it;
// entering and leaving fallback mode empties the cache.
//
// # Usage
//
// A successful verification of a cached API token records its time in the
// application's slot record with one atomic compare-and-swap: no lock is
// taken for writing and no map is touched. Take collects them for a flush;
// a slot that leaves the cache first hands its pending times to spill.
type Cache struct {
	mu          sync.RWMutex
	gen         uint64
	seq         uint64 // the last slot or user sequence number handed out
	max         int
	fallback    bool
	fallbackTTL time.Duration
	now         func() time.Time
	spill       func(id string, at time.Time, app string)

	byKey    keyIndex          // cache key -> slot
	byHash   map[uint64]uint32 // mapKey(store hash) -> slot
	slots    []slot
	hashes   []hash   // store hash of each slot, apart: only invalidations read it
	extras   []extra  // of each slot, apart: read only for slots with flagExtra
	free     []uint32 // unused slot indexes
	apps     []appRecord
	deadApps int // records in apps whose slot is gone

	userSeed  maphash.Seed
	byUser    map[uint64]uint32 // maphash of user ID -> user slot
	users     []userSlot
	freeUsers []uint32

	arena arena
}

// slot is one cached token: every field verification reads, flattened,
// in 128 bytes (TestSlotIsTwoCacheLines). seq is zero while the slot is
// unused.
type slot struct {
	key      hash
	seq      uint64
	userSeq  uint64 // the owner's user slot sequence (user tokens)
	active   int64  // Unix nanoseconds of Entry.Active, then of the latest use Take handed over; atomic
	expires  int64
	until    int64     // 0, or the UnixNano after which the slot is stale
	app0     appRecord // the first application, if any
	str      uint32    // arena offset of ID, account, user ID, app names
	firstApp uint32    // index in cache.apps of the second application
	userSlot uint32
	acctLen  uint16
	nApps    uint16
	idLen    uint8
	userLen  uint8
	kind     uint8
	owner    uint8
	priv     uint8 // effective privilege
	privErr  uint8 // the caller's code for the privilege outcome
	flags    uint8 // flagRevoked, flagUnlocked, flagUserOwned, flagExtra
	_        uint8
}

// Slot flags.
const (
	flagRevoked = 1 << iota
	flagUnlocked
	flagUserOwned
	flagExtra // the slot's extra holds scopes or an allow-list
)

// extra is what a slot holds beyond its 128 bytes, for the few tokens
// that narrow their scopes or carry an allow-list: a hit on any other
// token never reads it.
//
// It also holds the client address the slot's token was last verified
// from, so that a verification from the same address need not report it
// again (TouchFrom): addrSeq is a sequence lock (odd while a writer
// writes), addrKind 0 for none.
type extra struct {
	scopes   uint64 // the caller's scope set (Entry.Scopes)
	scopeRef uint32 // the caller's reference to it (Entry.ScopeRef)
	allowAt  uint32 // offset of the allow-list's bytes from the slot's str
	allowLen uint32
	addrSeq  uint32
	addrKind uint32
	addrHi   uint64
	addrLo   uint64
}

// Addr is a client address as the cache keeps it: 128 bits and a kind
// the caller chooses (non-zero).
type Addr struct {
	Hi, Lo uint64
	Kind   uint32
}

// appRecord is one application name of a cached token and its pending
// last use (Unix nanoseconds, 0 for none), updated atomically. Names of up
// to len(short) bytes are kept in short, so that matching them reads no
// arena memory; every name is in the arena, after the slot's other
// strings and in order.
type appRecord struct {
	used    int64
	nameLen uint16
	state   uint8
	short   [21]byte
}

// app returns application j of slot s.
func (c *Cache) app(s *slot, j int) *appRecord {
	if j == 0 {
		return &s.app0
	}
	return &c.apps[s.firstApp+uint32(j-1)]
}

// appNames returns the arena offset of slot s's first application name.
func appNames(s *slot) uint32 {
	return s.str + uint32(s.idLen) + uint32(s.acctLen) + uint32(s.userLen)
}

// strLen returns the bytes slot s (index i) holds in the arena.
func (c *Cache) strLen(i uint32) int {
	s := &c.slots[i]
	n := int(appNames(s) - s.str)
	for j := range int(s.nApps) {
		n += int(c.app(s, j).nameLen)
	}
	if s.flags&flagExtra != 0 {
		n += int(c.extras[i].allowLen)
	}
	return n
}

// is reports whether the record, whose name is at arena offset name, is
// application app.
func (r *appRecord) is(a *arena, name uint32, app string) bool {
	if int(r.nameLen) != len(app) {
		return false
	}
	if len(app) <= len(r.short) {
		return string(r.short[:len(app)]) == app
	}
	return a.str(name, len(app)) == app
}

// userSlot stands for a cached token owner. Token slots copy seq; a user
// invalidation zeroes it.
type userSlot struct {
	seq   uint64
	id    uint32
	idLen uint16
}

// hash is a cache key or a store hash: a SHA-256 or HMAC-SHA256 sum.
type hash = [32]byte

// Ref names a slot incarnation, for Touch; the zero Ref names none.
type Ref struct {
	idx uint32
	seq uint64
}

// Entry is what Put caches of a token and its owner, as the caller decided
// it: the cache only stores and returns these values.
type Entry struct {
	// Hash is the token's store hash, which InvalidateToken names.
	Hash [32]byte
	// ID, Account and UserID are the token's; ID and UserID are at most
	// 255 bytes, Account at most 65,535, or Put declines the entry.
	ID, Account, UserID string
	// Kind, Owner and Priv (the effective privilege) are the caller's
	// one-byte values.
	Kind, Owner, Priv uint8
	// PrivErr is the caller's code for the outcome of the privilege check.
	PrivErr uint8
	// UserOwned marks a token that InvalidateUser(UserID) retires.
	UserOwned bool
	// Revoked and Unlocked are the token's flags.
	Revoked, Unlocked bool
	// Active is the caller's last-activity time: a session's later of
	// creation and last flushed use, an API token's last flushed use
	// (zero if none), which Take at a resolution reads. Expires is the
	// expiry. Both must lie within int64 Unix nanoseconds.
	Active, Expires time.Time
	// Apps are the token's applications, in order.
	Apps []App
	// Extra marks an entry whose Scopes and Allow are kept (in a slot's
	// extra); without it Get returns them zero.
	Extra bool
	// Scopes is the caller's scope set, and ScopeRef the caller's
	// reference to its names.
	Scopes   uint64
	ScopeRef uint32
	// Allow is the caller's encoded allow-list (opaque bytes), at most
	// 65,535 bytes.
	Allow string
}

// App is one application of a cached token: its name and the caller's
// one-byte state.
type App struct {
	Name  string
	State uint8
}

// View is what Get returns of a cached token: an Entry's values (NApps
// counts its applications), with the application asked about looked up
// (App is its index, or -1, and AppState its state) and Ref naming the
// slot for Touch.
type View struct {
	ID, Account, UserID string
	Kind, Owner, Priv   uint8
	PrivErr             uint8
	Revoked, Unlocked   bool
	Active, Expires     time.Time
	NApps               int
	App                 int // index of the application asked about, or -1
	AppState            uint8
	Ref                 Ref // the slot, for Touch
	Extra               bool
	Scopes              uint64
	ScopeRef            uint32
	Allow               string
}

// New returns a cache of at most max tokens (none if max is 0 or less).
// While in fallback mode (SetFallback) it serves an entry for fallbackTTL
// after caching it. now is the clock; spill receives the pending uses of
// a slot that leaves the cache.
func New(max int, fallbackTTL time.Duration, now func() time.Time, spill func(id string, at time.Time, app string)) *Cache {
	c := &Cache{max: max, fallbackTTL: fallbackTTL, now: now, spill: spill, userSeed: maphash.MakeSeed()}
	c.reset()
	return c
}

func (c *Cache) reset() {
	c.byKey.reset()
	c.byHash = make(map[uint64]uint32)
	c.byUser = make(map[uint64]uint32)
	c.slots, c.hashes, c.extras, c.free, c.apps, c.users, c.freeUsers = nil, nil, nil, nil, nil, nil, nil
	c.arena = arena{}
}

// Enabled reports whether the cache holds anything at all.
func (c *Cache) Enabled() bool { return c.max > 0 }

// mapKey returns the bytes of h the byKey and byHash maps use: its last 8,
// which are always the sum's (the first may hold the issue time).
func mapKey(h hash) uint64 { return binary.LittleEndian.Uint64(h[len(h)-8:]) }

func (c *Cache) fresh(until int64) bool {
	return until == 0 || c.now().UnixNano() < until
}

// Get fills v with the view of the token with cache key key, with app
// looked up among its applications, and reports whether it was cached.
func (c *Cache) Get(key [32]byte, app string, v *View) bool {
	if !c.Enabled() {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.byKey.find(key, c.slots)
	if !ok {
		return false
	}
	s := &c.slots[i]
	if !c.fresh(s.until) {
		return false
	}
	if s.flags&flagUserOwned != 0 && c.users[s.userSlot].seq != s.userSeq {
		return false
	}
	*v = View{
		ID: c.arena.str(s.str, int(s.idLen)), Account: c.arena.str(s.str+uint32(s.idLen), int(s.acctLen)),
		Kind: s.kind, Owner: s.owner, Priv: s.priv, PrivErr: s.privErr,
		Revoked: s.flags&flagRevoked != 0, Unlocked: s.flags&flagUnlocked != 0,
		Active: unixnano.Time(atomic.LoadInt64(&s.active)), Expires: unixnano.Time(s.expires),
		NApps: int(s.nApps), App: -1, Ref: Ref{i, s.seq},
	}
	if s.userLen > 0 {
		v.UserID = c.arena.str(s.str+uint32(s.idLen)+uint32(s.acctLen), int(s.userLen))
	}
	if s.flags&flagExtra != 0 {
		x := &c.extras[i]
		v.Extra, v.Scopes, v.ScopeRef, v.Allow = true, x.scopes, x.scopeRef, c.arena.str(s.str+x.allowAt, int(x.allowLen))
	}
	name := appNames(s)
	for j := range int(s.nApps) {
		r := c.app(s, j) // used is written concurrently: no copies
		if r.is(&c.arena, name, app) {
			v.App, v.AppState = j, r.state
			break
		}
		name += uint32(r.nameLen)
	}
	return true
}

// Generation returns the count of invalidations so far, for Put; with
// the cache off it is always 0 and takes no lock.
func (c *Cache) Generation() uint64 {
	if !c.Enabled() {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// Put caches e under cache key key if nothing was invalidated since
// Generation returned gen (the caller reads the store in between), and
// returns the new slot. An entry with a time or a string outside what a
// slot holds is not cached.
func (c *Cache) Put(gen uint64, key [32]byte, e *Entry) (Ref, bool) {
	if !c.Enabled() {
		return Ref{}, false
	}
	s, ok := newSlot(key, e)
	if !ok {
		return Ref{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return Ref{}, false
	}
	if c.fallback {
		s.until = c.now().Add(c.fallbackTTL).UnixNano()
	}
	// An older copy of this token goes, and so does another token whose
	// store hash shares e's mapKey (byHash holds one slot per prefix).
	if i, ok := c.byKey.find(key, c.slots); ok {
		c.drop(i)
	}
	if i, ok := c.byHash[mapKey(e.Hash)]; ok {
		c.drop(i)
	}
	for c.byKey.n >= c.max {
		c.drop(c.victim())
	}
	c.maybeCompact()

	n := len(e.ID) + len(e.Account) + len(e.UserID)
	for _, a := range e.Apps {
		n += len(a.Name)
	}
	x := extra{scopes: e.Scopes, scopeRef: e.ScopeRef, allowAt: uint32(n), allowLen: uint32(len(e.Allow))}
	off, ok := c.arena.reserve(n + len(e.Allow))
	if !ok {
		return Ref{}, false
	}
	c.arena.append(e.ID)
	c.arena.append(e.Account)
	c.arena.append(e.UserID)
	for _, a := range e.Apps {
		c.arena.append(a.Name)
	}
	c.arena.append(e.Allow)
	s.str = off
	if e.UserOwned { // invalidations name the user the caller read
		s.userSlot, s.userSeq = c.userSlotFor(e.UserID, off+uint32(len(e.ID)+len(e.Account)))
	}
	s.firstApp = uint32(len(c.apps))
	for j, a := range e.Apps {
		r := appRecord{nameLen: uint16(len(a.Name)), state: a.State}
		copy(r.short[:], a.Name)
		if j == 0 {
			s.app0 = r
		} else {
			c.apps = append(c.apps, r)
		}
	}
	c.seq++
	s.seq = c.seq
	var i uint32
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		i = uint32(len(c.slots))
		c.slots = append(c.slots, slot{})
		c.hashes = append(c.hashes, hash{})
		c.extras = append(c.extras, extra{})
	}
	c.slots[i] = s
	c.hashes[i] = e.Hash
	c.extras[i] = x
	c.byKey.add(key, i, c.slots)
	c.byHash[mapKey(e.Hash)] = i
	return Ref{i, s.seq}, true
}

// victim returns a live slot chosen at random, to evict. It is called only
// when max slots are live, and slots are reused before the slice grows,
// so the slice never holds more than max: every slot is live then.
func (c *Cache) victim() uint32 {
	for {
		if i := rand.Uint32N(uint32(len(c.slots))); c.slots[i].seq != 0 {
			return i
		}
	}
}

// newSlot flattens e, except for the arena and user references Put fills
// in.
func newSlot(key hash, e *Entry) (slot, bool) {
	s := slot{key: key, kind: e.Kind, owner: e.Owner, priv: e.Priv, privErr: e.PrivErr,
		idLen: uint8(len(e.ID)), acctLen: uint16(len(e.Account)), userLen: uint8(len(e.UserID)), nApps: uint16(len(e.Apps))}
	if e.Revoked {
		s.flags |= flagRevoked
	}
	if e.Unlocked {
		s.flags |= flagUnlocked
	}
	if e.UserOwned {
		s.flags |= flagUserOwned
	}
	if e.Extra {
		s.flags |= flagExtra
	}
	var ok1, ok2 bool
	s.active, ok1 = unixnano.Of(e.Active)
	s.expires, ok2 = unixnano.Of(e.Expires)
	fits := len(e.ID) <= math.MaxUint8 && len(e.Account) <= math.MaxUint16 && len(e.UserID) <= math.MaxUint8 &&
		len(e.Apps) <= math.MaxUint16 && len(e.Allow) <= math.MaxUint16
	for _, a := range e.Apps {
		fits = fits && len(a.Name) <= math.MaxUint16
	}
	return s, ok1 && ok2 && fits
}

// userSlotFor returns the user slot of id, creating it if needed with its
// ID at arena offset off (within the token's own strings).
func (c *Cache) userSlotFor(id string, off uint32) (uint32, uint64) {
	k := maphash.String(c.userSeed, id)
	if i, ok := c.byUser[k]; ok {
		if c.arena.str(c.users[i].id, int(c.users[i].idLen)) == id {
			return i, c.users[i].seq
		}
		c.dropUser(i, k) // a colliding user: its tokens miss from now on
	}
	c.seq++
	us := userSlot{seq: c.seq, id: off, idLen: uint16(len(id))}
	var i uint32
	if n := len(c.freeUsers); n > 0 {
		i, c.freeUsers = c.freeUsers[n-1], c.freeUsers[:n-1]
		c.users[i] = us
	} else {
		i = uint32(len(c.users))
		c.users = append(c.users, us)
	}
	c.byUser[k] = i
	return i, us.seq
}

// drop empties slot i, handing its pending usage to spill.
func (c *Cache) drop(i uint32) {
	s := &c.slots[i]
	if s.seq == 0 {
		return
	}
	id := c.arena.str(s.str, int(s.idLen))
	name := appNames(s)
	for j := range int(s.nApps) {
		r := c.app(s, j)
		if r.used != 0 {
			c.spill(strings.Clone(id), unixnano.Time(r.used), strings.Clone(c.arena.str(name, int(r.nameLen))))
		}
		name += uint32(r.nameLen)
	}
	c.byKey.remove(s.key, i)
	if j, ok := c.byHash[mapKey(c.hashes[i])]; ok && j == i {
		delete(c.byHash, mapKey(c.hashes[i]))
	}
	c.arena.dead += c.strLen(i)
	c.deadApps += max(int(s.nApps)-1, 0)
	*s = slot{}
	c.free = append(c.free, i)
}

// dropUser retires user slot i (map key k): its tokens' slots stop serving.
func (c *Cache) dropUser(i uint32, k uint64) {
	delete(c.byUser, k) // its ID's bytes are counted with a token's
	c.users[i] = userSlot{}
	c.freeUsers = append(c.freeUsers, i)
}

// InvalidateToken drops the token whose store hash is h, and keeps any
// Put that read the store before this call from caching it.
func (c *Cache) InvalidateToken(h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if i, ok := c.byHash[mapKey(h)]; ok && c.hashes[i] == h {
		c.drop(i)
	}
}

// InvalidateUser retires every token of user id, as InvalidateToken does
// one token.
func (c *Cache) InvalidateUser(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	k := maphash.String(c.userSeed, id)
	if i, ok := c.byUser[k]; ok && c.arena.str(c.users[i].id, int(c.users[i].idLen)) == id {
		c.dropUser(i, k)
	}
}

// SetFallback enters (on) or leaves fallback mode, for while a shared
// store's change feed is down; either way it empties the cache, since
// changes may have gone unseen.
func (c *Cache) SetFallback(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.fallback = on
	c.dropAll()
}

// dropAll empties the cache, spilling pending usage.
func (c *Cache) dropAll() {
	for i := range c.slots {
		c.drop(uint32(i))
	}
	c.reset()
	c.deadApps = 0
}

// Touch records a use at time at of application app (View.App, an index
// into the token's applications) of the slot ref names. It reports false
// if that slot has left the cache; the caller then records the use
// elsewhere.
func (c *Cache) Touch(ref Ref, app int, at time.Time) bool {
	ns := at.UnixNano()
	if ns <= 0 || ref.seq == 0 || app < 0 {
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if int(ref.idx) >= len(c.slots) || c.slots[ref.idx].seq != ref.seq {
		return false
	}
	p := &c.app(&c.slots[ref.idx], app).used
	for {
		old := atomic.LoadInt64(p)
		if old >= ns || atomic.CompareAndSwapInt64(p, old, ns) {
			return true
		}
	}
}

// TouchFrom is Touch for a use from client address a. It also reports
// whether a differs from the address the slot last saw (and then keeps
// a), so that the caller records an address only when it changes. A use
// Touch cannot record (touched false) reports changed true.
func (c *Cache) TouchFrom(ref Ref, app int, at time.Time, a Addr) (touched, changed bool) {
	ns := at.UnixNano()
	if ns <= 0 || ref.seq == 0 || app < 0 {
		return false, true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if int(ref.idx) >= len(c.slots) || c.slots[ref.idx].seq != ref.seq {
		return false, true
	}
	p := &c.app(&c.slots[ref.idx], app).used
	for {
		old := atomic.LoadInt64(p)
		if old >= ns || atomic.CompareAndSwapInt64(p, old, ns) {
			break
		}
	}
	x := &c.extras[ref.idx]
	seq := atomic.LoadUint32(&x.addrSeq)
	if seq&1 == 0 && atomic.LoadUint32(&x.addrKind) == a.Kind && atomic.LoadUint64(&x.addrHi) == a.Hi &&
		atomic.LoadUint64(&x.addrLo) == a.Lo && atomic.LoadUint32(&x.addrSeq) == seq {
		return true, false
	}
	if seq&1 == 0 && atomic.CompareAndSwapUint32(&x.addrSeq, seq, seq+1) {
		atomic.StoreUint32(&x.addrKind, a.Kind)
		atomic.StoreUint64(&x.addrHi, a.Hi)
		atomic.StoreUint64(&x.addrLo, a.Lo)
		atomic.StoreUint32(&x.addrSeq, seq+2)
	}
	return true, true
}

// Take hands the pending usage of cached tokens to add, and clears it.
// The strings it passes share the cache's memory and never change.
//
// With a positive resolution it hands over only the slots that are due:
// a token with no flushed use (Entry.Active zero), one whose latest
// pending use is at least its step after the flushed one, or one whose
// latest pending use is itself a step old (the token went quiet: its
// last uses, of every application, are written rather than held while
// nothing newer comes). A slot's step
// lies between resolution/2 and resolution, fixed by its key, so that
// tokens first written together come due at different flushes. A slot
// not due keeps its pending uses for a later Take; a slot handed over
// records its latest use as the flushed one. Resolution 0 hands over
// everything.
//
// It reads the slots takeChunk at a time, each under the read lock, and
// calls add with no lock held. A read lock held over a whole cache (a
// million slots, and add growing the caller's batch) makes a Put or an
// invalidation wait for all of it, and every Get behind that writer: a
// stall of verification on every flush. Slots a chunk has passed may be
// used, dropped or filled meanwhile: a drop spills its pending uses, and
// later uses wait for the next Take, so nothing is lost either way.
func (c *Cache) Take(resolution time.Duration, add func(id string, at time.Time, app string)) {
	type use struct {
		id, app string
		ns      int64
	}
	var buf []use
	now := int64(0)
	if resolution > 0 {
		now = c.now().UnixNano()
	}
	for start := 0; ; start += takeChunk {
		buf = buf[:0]
		c.mu.RLock()
		end := min(start+takeChunk, len(c.slots))
		for i := start; i < end; i++ {
			s := &c.slots[i]
			if s.seq == 0 || !c.due(s, resolution, now) {
				continue
			}
			name := appNames(s)
			latest := int64(0)
			for j := range int(s.nApps) {
				r := c.app(s, j)
				if ns := atomic.SwapInt64(&r.used, 0); ns != 0 {
					buf = append(buf, use{c.arena.str(s.str, int(s.idLen)), c.arena.str(name, int(r.nameLen)), ns})
					latest = max(latest, ns)
				}
				name += uint32(r.nameLen)
			}
			if latest > atomic.LoadInt64(&s.active) {
				atomic.StoreInt64(&s.active, latest)
			}
		}
		c.mu.RUnlock()
		for _, u := range buf {
			add(u.id, unixnano.Time(u.ns), u.app)
		}
		if end <= start {
			return
		}
	}
}

// due reports whether Take at resolution, at time now (Unix
// nanoseconds), hands over slot s's pending uses (see Take). The read
// lock must be held.
func (c *Cache) due(s *slot, resolution time.Duration, now int64) bool {
	flushed := atomic.LoadInt64(&s.active)
	if resolution <= 0 || flushed == 0 {
		return true
	}
	latest := int64(0)
	for j := range int(s.nApps) {
		latest = max(latest, atomic.LoadInt64(&c.app(s, j).used))
	}
	if latest == 0 {
		return false
	}
	st := step(s.key, resolution)
	return latest-flushed >= st || now-latest >= st
}

// step is the least gap between a flushed use and the next one Take at
// resolution hands over for the slot with key key: between resolution/2
// and resolution, fixed by the key.
func step(key hash, resolution time.Duration) int64 {
	half := int64(resolution / 2)
	return half + int64(uint64(half)*uint64(key[0])/256)
}

// takeChunk is how many slots Take reads under one hold of the read lock:
// tens of microseconds' work.
const takeChunk = 1024

// maybeCompact copies live strings and application records to fresh
// storage once more than half of what the arena or the application
// records hold belongs to dropped slots. Strings already handed out keep
// the old chunks alive and unchanged.
func (c *Cache) maybeCompact() {
	wasteful := func(dead, total, floor int) bool { return dead > floor && dead*2 > total }
	if !wasteful(c.arena.dead, c.arena.size, 4*arenaChunk) && !wasteful(c.deadApps, len(c.apps), 1<<16) {
		return
	}
	old, oldApps := c.arena, c.apps
	c.arena, c.apps, c.deadApps = arena{}, make([]appRecord, 0, len(oldApps)-c.deadApps), 0
	for i := range c.slots {
		s := &c.slots[i]
		if s.seq == 0 {
			continue
		}
		s.str = c.arena.copyFrom(&old, s.str, c.strLen(uint32(i)))
		if s.nApps > 1 {
			first := uint32(len(c.apps))
			c.apps = append(c.apps, oldApps[s.firstApp:s.firstApp+uint32(s.nApps)-1]...)
			s.firstApp = first
		}
	}
	for i := range c.users {
		if u := &c.users[i]; u.seq != 0 {
			u.id = c.arena.copyFrom(&old, u.id, int(u.idLen))
		}
	}
}

// arena is append-only string storage in chunks of arenaChunk bytes with
// no pointers inside. An offset is chunk<<arenaShift | position. Bytes are
// never modified once added, which is what makes the strings str returns
// safe to hand out.
type arena struct {
	chunks [][]byte
	size   int // bytes added
	dead   int // bytes of dropped slots
}

const (
	arenaShift = 20
	arenaChunk = 1 << arenaShift
	maxChunks  = 1 << (32 - arenaShift)
)

// reserve makes room for n contiguous bytes, which the caller then adds
// with append, and returns their offset, or false if they cannot fit in
// one chunk or the arena is full. (A slice of strings to add would leak
// the caller's strings to the heap, and with them its Entry.)
func (a *arena) reserve(n int) (uint32, bool) {
	if n > arenaChunk {
		return 0, false
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > arenaChunk {
		if len(a.chunks) == maxChunks {
			return 0, false
		}
		a.chunks = append(a.chunks, make([]byte, 0, arenaChunk))
		last++
	}
	a.size += n
	return uint32(last)<<arenaShift | uint32(len(a.chunks[last])), true
}

// append adds s to the last chunk, within the room reserve made.
func (a *arena) append(s string) {
	last := len(a.chunks) - 1
	a.chunks[last] = append(a.chunks[last], s...)
}

// copyFrom adds n bytes at off in old and returns their new offset.
func (a *arena) copyFrom(old *arena, off uint32, n int) uint32 {
	o, _ := a.reserve(n) // fitted in a chunk before, fits again
	a.append(old.str(off, n))
	return o
}

// str returns the n bytes at off as a string sharing the arena's memory.
func (a *arena) str(off uint32, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[off>>arenaShift][off&(arenaChunk-1)], n)
}
