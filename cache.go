package apitoken

import "sync"

// cache holds verified records by hash so that a hot token costs no store
// read (SPEC 16). Records in it are immutable snapshots shared by readers.
//
// Correctness rests on a generation counter: a reader notes the generation
// before reading the store and may insert only if no invalidation happened
// since. Every mutation invalidates after its store write and before it
// returns, so no verification that starts after a mutation returns can see
// the old record, and no slow reader can put the old record back.
type cache struct {
	mu     sync.RWMutex
	gen    uint64
	max    int
	tokens map[Hash]*Token
	users  map[string]*User // owners of cached user tokens
}

func newCache(max int) *cache {
	return &cache{max: max, tokens: make(map[Hash]*Token), users: make(map[string]*User)}
}

func (c *cache) get(h Hash) (*Token, *User, bool) {
	if c.max <= 0 {
		return nil, nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tokens[h]
	if !ok {
		return nil, nil, false
	}
	if t.Owner != OwnerUser {
		return t, nil, true
	}
	u, ok := c.users[t.UserID]
	return t, u, ok
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
	if len(c.tokens) >= c.max {
		for k := range c.tokens { // evict an arbitrary entry
			delete(c.tokens, k)
			break
		}
	}
	c.tokens[h] = t
	if u != nil {
		c.users[u.ID] = u
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
