package apitoken

import (
	"sync"
	"time"
)

// cache holds verified records by hash so that a hot token costs no store
// read (SPEC 16). Records in it are immutable snapshots shared by readers.
//
// Correctness rests on a generation counter: a reader notes the generation
// before reading the store and may insert only if no invalidation happened
// since. Every mutation invalidates after its store write and before it
// returns, so no verification that starts after a mutation returns can see
// the old record, and no slow reader can put the old record back.
//
// While a shared store's change feed is down (fallback mode) entries are
// stamped with a deadline fallbackTTL ahead and not served after it; entries
// stamped with no deadline never exist in fallback mode, because entering
// and leaving it empties the cache.
type cache struct {
	mu          sync.RWMutex
	gen         uint64
	max         int
	fallback    bool
	fallbackTTL time.Duration
	now         func() time.Time
	tokens      map[Hash]cachedToken
	users       map[string]cachedUser // owners of cached user tokens
}

// cachedToken and cachedUser are cache entries; until is zero when the
// entry lives until invalidated, else the UnixNano after which it is stale.
type cachedToken struct {
	t     *Token
	until int64
}

type cachedUser struct {
	u     *User
	until int64
}

func newCache(max int, fallbackTTL time.Duration, now func() time.Time) *cache {
	return &cache{max: max, fallbackTTL: fallbackTTL, now: now,
		tokens: make(map[Hash]cachedToken), users: make(map[string]cachedUser)}
}

// fresh reports whether an entry stamped until may still serve.
func (c *cache) fresh(until int64) bool {
	return until == 0 || c.now().UnixNano() < until
}

func (c *cache) get(h Hash) (*Token, *User, bool) {
	if c.max <= 0 {
		return nil, nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.tokens[h]
	if !ok || !c.fresh(e.until) {
		return nil, nil, false
	}
	if e.t.Owner != OwnerUser {
		return e.t, nil, true
	}
	u, ok := c.users[e.t.UserID]
	if !ok || !c.fresh(u.until) {
		return nil, nil, false
	}
	return e.t, u.u, true
}

func (c *cache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put stores t and u if nothing was invalidated since generation gen.
// A nil u for a user token is not cached: missing owners are re-read.
func (c *cache) put(gen uint64, h Hash, t *Token, u *User) {
	if c.max <= 0 || (t.Owner == OwnerUser && u == nil) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	var until int64
	if c.fallback {
		until = c.now().Add(c.fallbackTTL).UnixNano()
	}
	if len(c.tokens) >= c.max {
		for k := range c.tokens { // evict an arbitrary entry
			delete(c.tokens, k)
			break
		}
	}
	c.tokens[h] = cachedToken{t, until}
	if u != nil {
		c.users[u.ID] = cachedUser{u, until}
	}
}

func (c *cache) invalidateToken(h Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.tokens, h)
}

func (c *cache) invalidateUser(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.users, id)
}

// setFallback enters (on) or leaves fallback mode; either way it empties
// the cache, since changes may have gone unseen.
func (c *cache) setFallback(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.fallback = on
	clear(c.tokens)
	clear(c.users)
}
