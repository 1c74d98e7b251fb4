package storetest

import (
	"context"
	"sync/atomic"

	"github.com/apitoken/apitoken"
)

// Counting wraps a Store and counts its calls, so tests can prove what a
// code path does not do (no store call for a malformed token, no write per
// verification).
type Counting struct {
	apitoken.Store
	reads, writes atomic.Int64
	emptyCommits  atomic.Int64
	listed        atomic.Int64
	// OnCall, when set, runs before every store call (tests use it to
	// cancel a context at a chosen point).
	OnCall func()
}

// NewCounting wraps s.
func NewCounting(s apitoken.Store) *Counting { return &Counting{Store: s} }

// Reads returns the number of read calls so far.
func (c *Counting) Reads() int64 { return c.reads.Load() }

// Writes returns the number of write calls so far.
func (c *Counting) Writes() int64 { return c.writes.Load() }

// EmptyCommits returns the number of CommitEmpty calls so far. They are
// not writes: they change no record.
func (c *Counting) EmptyCommits() int64 { return c.emptyCommits.Load() }

// Listed returns how many records ListTokens and ListUsers have returned
// so far: what listings cost in records, where Reads counts calls.
func (c *Counting) Listed() int64 { return c.listed.Load() }

// Calls returns reads plus writes.
func (c *Counting) Calls() int64 { return c.Reads() + c.Writes() }

func (c *Counting) read() {
	c.reads.Add(1)
	if c.OnCall != nil {
		c.OnCall()
	}
}

func (c *Counting) write() {
	c.writes.Add(1)
	if c.OnCall != nil {
		c.OnCall()
	}
}

// CreateToken counts a write.
func (c *Counting) CreateToken(ctx context.Context, t *apitoken.Token) error {
	c.write()
	return c.Store.CreateToken(ctx, t)
}

// TokenByHash counts a read.
func (c *Counting) TokenByHash(ctx context.Context, h apitoken.Hash) (*apitoken.Token, error) {
	c.read()
	return c.Store.TokenByHash(ctx, h)
}

// TokenByID counts a read.
func (c *Counting) TokenByID(ctx context.Context, id string) (*apitoken.Token, error) {
	c.read()
	return c.Store.TokenByID(ctx, id)
}

// ListTokens counts a read and the records it returns.
func (c *Counting) ListTokens(ctx context.Context, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	c.read()
	ts, err := c.Store.ListTokens(ctx, q)
	c.listed.Add(int64(len(ts)))
	return ts, err
}

// UpdateToken counts a write.
func (c *Counting) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	c.write()
	return c.Store.UpdateToken(ctx, t)
}

// DeleteToken counts a write.
func (c *Counting) DeleteToken(ctx context.Context, id string) error {
	c.write()
	return c.Store.DeleteToken(ctx, id)
}

// TouchTokens counts a write.
func (c *Counting) TouchTokens(ctx context.Context, ts []apitoken.Touch) error {
	c.write()
	return c.Store.TouchTokens(ctx, ts)
}

// PurgeTokens counts a write.
func (c *Counting) PurgeTokens(ctx context.Context, q apitoken.PurgeQuery) (int, error) {
	c.write()
	return c.Store.PurgeTokens(ctx, q)
}

// CreateUser counts a write.
func (c *Counting) CreateUser(ctx context.Context, u *apitoken.User) error {
	c.write()
	return c.Store.CreateUser(ctx, u)
}

// UserByID counts a read.
func (c *Counting) UserByID(ctx context.Context, id string) (*apitoken.User, error) {
	c.read()
	return c.Store.UserByID(ctx, id)
}

// UserByName counts a read.
func (c *Counting) UserByName(ctx context.Context, name string) (*apitoken.User, error) {
	c.read()
	return c.Store.UserByName(ctx, name)
}

// ListUsers counts a read and the users it returns.
func (c *Counting) ListUsers(ctx context.Context, q apitoken.UserQuery) ([]*apitoken.User, error) {
	c.read()
	us, err := c.Store.ListUsers(ctx, q)
	c.listed.Add(int64(len(us)))
	return us, err
}

// UpdateUser counts a write.
func (c *Counting) UpdateUser(ctx context.Context, u *apitoken.User) error {
	c.write()
	return c.Store.UpdateUser(ctx, u)
}

// DeleteUser counts a write.
func (c *Counting) DeleteUser(ctx context.Context, id string) error {
	c.write()
	return c.Store.DeleteUser(ctx, id)
}

// CommitEmpty counts an empty commit (not a write) and passes it on if the
// wrapped store has it (see apitoken.Store).
func (c *Counting) CommitEmpty(ctx context.Context) error {
	c.emptyCommits.Add(1)
	if c.OnCall != nil {
		c.OnCall()
	}
	if ec, ok := c.Store.(interface{ CommitEmpty(context.Context) error }); ok {
		return ec.CommitEmpty(ctx)
	}
	return nil
}
