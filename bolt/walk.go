package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

var (
	_ migrate.Walker   = (*Store)(nil)
	_ migrate.Importer = (*Store)(nil)
)

// WalkTokens implements migrate.Walker: one read transaction per page,
// through the ID index, in byte order of IDs.
func (s *Store) WalkTokens(ctx context.Context, after string, limit int) ([]*apitoken.Token, error) {
	return walk(ctx, s, bucketTokenIDs, after, limit, getToken)
}

// WalkUsers implements migrate.Walker, like WalkTokens.
func (s *Store) WalkUsers(ctx context.Context, after string, limit int) ([]*apitoken.User, error) {
	return walk(ctx, s, bucketUsers, after, limit, getUser)
}

// walk reads up to limit records whose IDs, keys of bucket name, come
// after after, each through get, in one read transaction.
func walk[T any](ctx context.Context, s *Store, name []byte, after string, limit int, get func(*bbolt.Tx, []byte) (T, error)) ([]T, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: a walk needs a limit", apitoken.ErrInvalidArgument)
	}
	var out []T
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		out = out[:0]
		return walkKeys(bucket(tx, name), after, limit, func(id []byte) error {
			r, err := get(tx, id)
			if err != nil {
				return errors.Join(ErrCorrupt, err)
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// walkKeys calls fn with up to limit keys of b after after, in order.
func walkKeys(b *bbolt.Bucket, after string, limit int, fn func(k []byte) error) error {
	c := b.Cursor()
	k, _ := c.Seek([]byte(after))
	if k != nil && bytes.Equal(k, []byte(after)) {
		k, _ = c.Next()
	}
	for n := 0; k != nil && n < limit; k, _ = c.Next() {
		if err := fn(k); err != nil {
			return err
		}
		n++
	}
	return nil
}

// ImportTokens implements migrate.Importer: one write transaction for
// the batch.
func (s *Store) ImportTokens(ctx context.Context, ts []*apitoken.Token) (int, error) {
	for _, t := range ts { // the whole batch or nothing
		if err := t.Validate(); err != nil {
			return 0, err
		}
	}

	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		for _, t := range ts {
			if t.Version < 1 {
				return fmt.Errorf("%w: token %q has no version", apitoken.ErrInvalidArgument, t.ID)
			}
			old, err := getToken(tx, []byte(t.ID))
			switch {
			case err == nil && old.Equal(t):
				continue
			case err == nil:
				return fmt.Errorf("%w: token %q is stored with other content", apitoken.ErrDuplicate, t.ID)
			case !errors.Is(err, apitoken.ErrNotFound):
				return err
			case bucket(tx, bucketTokens).Get(t.Hash[:]) != nil:
				return fmt.Errorf("%w: the hash of token %q is stored under another ID", apitoken.ErrDuplicate, t.ID)
			}
			if err := putToken(tx, nil, t.Clone()); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ImportUsers implements migrate.Importer, like ImportTokens.
func (s *Store) ImportUsers(ctx context.Context, us []*apitoken.User) (int, error) {
	for _, u := range us { // the whole batch or nothing
		if err := u.Validate(); err != nil {
			return 0, err
		}
	}

	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		for _, u := range us {
			if u.Version < 1 {
				return fmt.Errorf("%w: user %q has no version", apitoken.ErrInvalidArgument, u.ID)
			}
			old, err := getUser(tx, []byte(u.ID))
			switch {
			case err == nil && old.Equal(u):
				continue
			case err == nil:
				return fmt.Errorf("%w: user %q is stored with other content", apitoken.ErrDuplicate, u.ID)
			case !errors.Is(err, apitoken.ErrNotFound):
				return err
			case bucket(tx, bucketUserNames).Get([]byte(u.Name)) != nil:
				return fmt.Errorf("%w: the name of user %q is taken", apitoken.ErrDuplicate, u.ID)
			}
			if err := bucket(tx, bucketUsers).Put([]byte(u.ID), encodeUser(u)); err != nil {
				return err
			}
			if err := bucket(tx, bucketUserNames).Put([]byte(u.Name), []byte(u.ID)); err != nil {
				return err
			}
			if err := bucket(tx, bucketUsersByAcct).Put(userAcctKey(u), nil); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
