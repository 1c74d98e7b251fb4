package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
)

// Check verifies the file: bbolt's own page consistency check, then that
// every record decodes and every index entry agrees with exactly one
// record, both ways. It returns every problem found, joined.
func (s *Store) Check(ctx context.Context) error {
	var errs []error
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, fmt.Errorf("bbolt: %w", err))
		}
		hashOf := map[string]apitoken.Hash{} // token ID -> hash, for schema-1 ID index entries
		want := map[string]map[string]bool{string(bucketTokenIDs): {}, string(bucketUserNames): {}, string(bucketUsersByAcct): {}}
		for _, b := range [][]byte{bucketByAccount, bucketByUser, bucketSessByAcct, bucketSessByUser, bucketEnds, bucketActivity} {
			want[string(b)] = map[string]bool{}
		}
		tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			if len(k) != len(apitoken.Hash{}) {
				errs = append(errs, fmt.Errorf("%w: token key %x is not a hash", ErrCorrupt, k))
				return nil
			}
			t, err := decodeToken(apitoken.Hash(k), v)
			if err != nil {
				errs = append(errs, fmt.Errorf("token under %x: %w", k, errors.Join(ErrCorrupt, err)))
				return nil
			}
			want[string(bucketTokenIDs)][t.ID+"\x00"+string(t.Hash[:idRefLen])] = true
			hashOf[t.ID] = t.Hash
			for _, e := range indexEntries(t) {
				if e.key != nil {
					want[string(e.bucket)][string(e.key)] = true
				}
			}
			return nil
		})
		tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			u, err := decodeUser(v)
			if err != nil || u.ID != string(k) {
				errs = append(errs, fmt.Errorf("user %q: %w", k, errors.Join(ErrCorrupt, err)))
				return nil
			}
			want[string(bucketUserNames)][u.Name+"\x00"+u.ID] = true
			want[string(bucketUsersByAcct)][string(userAcctKey(u))] = true
			return nil
		})
		for name, keys := range want {
			valued := name == string(bucketTokenIDs) || name == string(bucketUserNames)
			b := tx.Bucket([]byte(name))
			if b == nil {
				errs = append(errs, fmt.Errorf("%w: no bucket %s (check a file opened for writing, which migrates it)", ErrCorrupt, name))
				continue
			}
			b.ForEach(func(k, v []byte) error {
				key := string(k)
				if name == string(bucketTokenIDs) && len(v) == len(apitoken.Hash{}) { // schema 1: the whole hash
					if h, ok := hashOf[key]; ok && apitoken.Hash(v) != h {
						errs = append(errs, fmt.Errorf("%w: ID index entry %q holds another token's hash", ErrCorrupt, k))
					}
					v = v[:idRefLen]
				}
				if valued {
					key += "\x00" + string(v)
				} else if len(v) != 0 {
					errs = append(errs, fmt.Errorf("%w: %s entry with a value", ErrCorrupt, name))
				}
				if !keys[key] {
					errs = append(errs, fmt.Errorf("%w: dangling %s entry %x", ErrCorrupt, name, bytes.TrimSpace(k)))
				}
				delete(keys, key)
				return nil
			})
			for k := range keys {
				errs = append(errs, fmt.Errorf("%w: %s lacks entry %x", ErrCorrupt, name, k))
			}
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}
