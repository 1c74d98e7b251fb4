// Package memstore is an in-memory apitoken.Store for tests, examples and
// single-process hosts that need no persistence. It is safe for concurrent
// use and returns copies the caller owns.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/apitoken/apitoken"
)

// Store is an in-memory apitoken.Store. Its zero value is not usable: call
// New.
type Store struct {
	mu     sync.RWMutex
	closed bool
	tokens map[string]*apitoken.Token // by ID
	byHash map[apitoken.Hash]string   // hash -> ID
	users  map[string]*apitoken.User  // by ID
	byName map[string]string          // name -> ID
}

var _ apitoken.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{
		tokens: make(map[string]*apitoken.Token),
		byHash: make(map[apitoken.Hash]string),
		users:  make(map[string]*apitoken.User),
		byName: make(map[string]string),
	}
}

// ready returns ErrClosed or the context's error.
func (s *Store) ready(ctx context.Context) error {
	if s.closed {
		return apitoken.ErrClosed
	}
	return ctx.Err()
}

// CreateToken implements apitoken.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	if _, ok := s.tokens[t.ID]; ok {
		return apitoken.ErrDuplicate
	}
	if _, ok := s.byHash[t.Hash]; ok {
		return apitoken.ErrDuplicate
	}
	t.Version = 1
	s.tokens[t.ID] = t.Clone()
	s.byHash[t.Hash] = t.ID
	return nil
}

// TokenByHash implements apitoken.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, h apitoken.Hash) (*apitoken.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	id, ok := s.byHash[h]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return s.tokens[id].Clone(), nil
}

// TokenByID implements apitoken.TokenStore.
func (s *Store) TokenByID(ctx context.Context, id string) (*apitoken.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	t, ok := s.tokens[id]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return t.Clone(), nil
}

// ListTokens implements apitoken.TokenStore.
func (s *Store) ListTokens(ctx context.Context, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []*apitoken.Token
	for _, t := range s.tokens {
		if (t.Account != q.Account && !allAccounts(q)) || (q.UserID != "" && t.UserID != q.UserID) || (q.Kind != 0 && t.Kind != q.Kind) ||
			(q.After.ID != "" && !comesAfter(t.Position(), q.After, q.Newest)) || !q.Expiring(t) {
			continue
		}
		out = append(out, t)
	}
	out = page(out, q.Limit, q.Newest, (*apitoken.Token).Position)
	for i, t := range out {
		out[i] = t.Clone()
	}
	return out, nil
}

// allAccounts reports whether q selects records of every account: an
// expiry warning query with no account (see apitoken.TokenQuery.Unwarned).
func allAccounts(q apitoken.TokenQuery) bool {
	return q.Account == "" && q.Unwarned && !q.ExpiresBefore.IsZero()
}

// comesAfter reports whether p comes after the listing position after:
// later in (Created, ID) order, or earlier when newest.
func comesAfter(p, after apitoken.Position, newest bool) bool {
	if newest {
		return p.Before(after)
	}
	return after.Before(p)
}

// page sorts records by (Created, ID), descending when newest, and keeps
// the first limit (0: all). The store has no ordered index: a listing
// costs a scan, which suits the sizes this store is for.
func page[T any](rs []T, limit int, newest bool, pos func(T) apitoken.Position) []T {
	slices.SortFunc(rs, func(a, b T) int {
		pa, pb := pos(a), pos(b)
		c := cmp.Or(pa.Created.Compare(pb.Created), cmp.Compare(pa.ID, pb.ID))
		if newest {
			return -c
		}
		return c
	})
	if limit > 0 && len(rs) > limit {
		rs = rs[:limit]
	}
	return rs
}

// PurgeTokens implements apitoken.TokenStore.
func (s *Store) PurgeTokens(ctx context.Context, q apitoken.PurgeQuery) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	if q.Limit < 1 {
		return 0, fmt.Errorf("%w: a purge needs a limit", apitoken.ErrInvalidArgument)
	}
	n := 0
	for id, t := range s.tokens {
		if n == q.Limit {
			break
		}
		if t.Kind != q.Kind || !(t.End().Before(q.EndedBefore) || (!q.IdleBefore.IsZero() && t.Activity().Before(q.IdleBefore))) {
			continue
		}
		delete(s.byHash, t.Hash)
		delete(s.tokens, id)
		n++
	}
	return n, nil
}

// UpdateToken implements apitoken.TokenStore.
func (s *Store) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	// The version first: a record read before a RehashToken has the old
	// hash, and its writer must re-read, not be told it changed the hash.
	old, err := s.atVersion(t)
	if err != nil {
		return err
	}
	if old.Hash != t.Hash || old.HashKeyID != t.HashKeyID || old.Kind != t.Kind || old.Account != t.Account {
		return errImmutable
	}
	c := t.Clone()
	c.Version++
	s.tokens[t.ID] = c
	t.Version = c.Version
	return nil
}

// RehashToken implements apitoken.TokenStore.
func (s *Store) RehashToken(ctx context.Context, t *apitoken.Token, h apitoken.Hash, keyID uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	old, err := s.atVersion(t)
	if err != nil {
		return err
	}
	if _, ok := s.byHash[h]; ok {
		return apitoken.ErrDuplicate
	}
	delete(s.byHash, old.Hash)
	old.Hash, old.HashKeyID = h, keyID
	old.Version++
	s.byHash[h] = old.ID
	t.Hash, t.HashKeyID, t.Version = h, keyID, old.Version
	return nil
}

// atVersion returns the stored record of t's ID if it is still at
// t.Version: ErrNotFound or ErrConflict otherwise. s.mu must be held.
func (s *Store) atVersion(t *apitoken.Token) (*apitoken.Token, error) {
	old, ok := s.tokens[t.ID]
	switch {
	case !ok:
		return nil, apitoken.ErrNotFound
	case old.Version != t.Version:
		return nil, apitoken.ErrConflict
	}
	return old, nil
}

// DeleteToken implements apitoken.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	if t, ok := s.tokens[id]; ok {
		delete(s.byHash, t.Hash)
		delete(s.tokens, id)
	}
	return nil
}

// TouchTokens implements apitoken.TokenStore.
func (s *Store) TouchTokens(ctx context.Context, touches []apitoken.Touch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	for _, tc := range touches {
		if t, ok := s.tokens[tc.ID]; ok {
			tc.Apply(t)
		}
	}
	return nil
}

// CreateUser implements apitoken.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	if _, ok := s.users[u.ID]; ok {
		return apitoken.ErrDuplicate
	}
	if _, ok := s.byName[u.Name]; ok {
		return apitoken.ErrDuplicate
	}
	u.Version = 1
	s.users[u.ID] = u.Clone()
	s.byName[u.Name] = u.ID
	return nil
}

// UserByID implements apitoken.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*apitoken.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	u, ok := s.users[id]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return u.Clone(), nil
}

// UserByName implements apitoken.UserStore.
func (s *Store) UserByName(ctx context.Context, name string) (*apitoken.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	id, ok := s.byName[name]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return s.users[id].Clone(), nil
}

// ListUsers implements apitoken.UserStore.
func (s *Store) ListUsers(ctx context.Context, q apitoken.UserQuery) ([]*apitoken.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []*apitoken.User
	for _, u := range s.users {
		if u.Account == q.Account && (q.After.ID == "" || comesAfter(u.Position(), q.After, false)) {
			out = append(out, u)
		}
	}
	out = page(out, q.Limit, false, (*apitoken.User).Position)
	for i, u := range out {
		out[i] = u.Clone()
	}
	return out, nil
}

// UpdateUser implements apitoken.UserStore.
func (s *Store) UpdateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	old, ok := s.users[u.ID]
	switch {
	case !ok:
		return apitoken.ErrNotFound
	case old.Account != u.Account:
		return errImmutable
	case old.Version != u.Version:
		return apitoken.ErrConflict
	}
	if id, taken := s.byName[u.Name]; taken && id != u.ID {
		return apitoken.ErrDuplicate
	}
	delete(s.byName, old.Name)
	c := u.Clone()
	c.Version++
	s.users[u.ID] = c
	s.byName[u.Name] = u.ID
	u.Version = c.Version
	return nil
}

// DeleteUser implements apitoken.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	if u, ok := s.users[id]; ok {
		delete(s.byName, u.Name)
		delete(s.users, id)
	}
	return nil
}

// Close implements apitoken.Store. Later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// Check reports whether the hash and name indexes agree with the records,
// for stress tests.
func (s *Store) Check(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.byHash) != len(s.tokens) || len(s.byName) != len(s.users) {
		return fmt.Errorf("memstore: %d tokens but %d hashes, %d users but %d names", len(s.tokens), len(s.byHash), len(s.users), len(s.byName))
	}
	for h, id := range s.byHash {
		if t, ok := s.tokens[id]; !ok || t.Hash != h {
			return fmt.Errorf("memstore: hash index entry for %q disagrees", id)
		}
	}
	for name, id := range s.byName {
		if u, ok := s.users[id]; !ok || u.Name != name {
			return fmt.Errorf("memstore: name index entry %q disagrees", name)
		}
	}
	return nil
}

// errImmutable is the answer to an update that changes a field kept fixed
// for a record's life (ID, hash, kind, account).
var errImmutable = fmt.Errorf("%w: a record's ID, hash, kind and account never change", apitoken.ErrInvalidArgument)
