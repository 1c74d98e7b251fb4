package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

var (
	_ migrate.Walker   = (*Store)(nil)
	_ migrate.Importer = (*Store)(nil)
)

// WalkTokens implements migrate.Walker, in byte order of IDs. The store
// has no ordered index: each page costs a scan of every record, which
// suits the sizes this store is for.
func (s *Store) WalkTokens(ctx context.Context, after string, limit int) ([]*apitoken.Token, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	ids, err := walkPage(s.tokens, after, limit)
	out := make([]*apitoken.Token, len(ids))
	for i, id := range ids {
		out[i] = s.tokens[id].Clone()
	}
	return out, err
}

// WalkUsers implements migrate.Walker, like WalkTokens.
func (s *Store) WalkUsers(ctx context.Context, after string, limit int) ([]*apitoken.User, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	ids, err := walkPage(s.users, after, limit)
	out := make([]*apitoken.User, len(ids))
	for i, id := range ids {
		out[i] = s.users[id].Clone()
	}
	return out, err
}

// walkPage returns the first limit IDs of m after after, in byte order.
func walkPage[T any](m map[string]T, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: a walk needs a limit", apitoken.ErrInvalidArgument)
	}
	var ids []string
	for id := range m {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, strings.Compare)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// ImportTokens implements migrate.Importer.
func (s *Store) ImportTokens(ctx context.Context, ts []*apitoken.Token) (int, error) {
	for _, t := range ts { // the whole batch or nothing
		if err := t.Validate(); err != nil {
			return 0, err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var add []*apitoken.Token
	seen := map[string]bool{}
	for _, t := range ts {
		if t.Version < 1 {
			return 0, fmt.Errorf("%w: token %q has no version", apitoken.ErrInvalidArgument, t.ID)
		}
		if old, ok := s.tokens[t.ID]; ok {
			if !old.Equal(t) {
				return 0, fmt.Errorf("%w: token %q is stored with other content", apitoken.ErrDuplicate, t.ID)
			}
			continue
		}
		if _, ok := s.byHash[t.Hash]; ok || seen["i"+t.ID] || seen["h"+string(t.Hash[:])] {
			return 0, fmt.Errorf("%w: the hash of token %q is stored under another ID", apitoken.ErrDuplicate, t.ID)
		}
		seen["i"+t.ID], seen["h"+string(t.Hash[:])] = true, true
		add = append(add, t)
	}
	for _, t := range add {
		s.tokens[t.ID] = t.Clone()
		s.byHash[t.Hash] = t.ID
	}
	return len(add), nil
}

// ImportUsers implements migrate.Importer.
func (s *Store) ImportUsers(ctx context.Context, us []*apitoken.User) (int, error) {
	for _, u := range us { // the whole batch or nothing
		if err := u.Validate(); err != nil {
			return 0, err
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	var add []*apitoken.User
	seen := map[string]bool{}
	for _, u := range us {
		if u.Version < 1 {
			return 0, fmt.Errorf("%w: user %q has no version", apitoken.ErrInvalidArgument, u.ID)
		}
		if old, ok := s.users[u.ID]; ok {
			if !old.Equal(u) {
				return 0, fmt.Errorf("%w: user %q is stored with other content", apitoken.ErrDuplicate, u.ID)
			}
			continue
		}
		if _, ok := s.byName[u.Name]; ok || seen["i"+u.ID] || seen["n"+u.Name] {
			return 0, fmt.Errorf("%w: the name of user %q is taken", apitoken.ErrDuplicate, u.ID)
		}
		seen["i"+u.ID], seen["n"+u.Name] = true, true
		add = append(add, u)
	}
	for _, u := range add {
		s.users[u.ID] = u.Clone()
		s.byName[u.Name] = u.ID
	}
	return len(add), nil
}
