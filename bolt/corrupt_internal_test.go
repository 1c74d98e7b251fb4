package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
)

// TestCorruptRecordsFailClosed writes garbage, dangling index entries and
// impossible states straight into the file, then checks that verify, list,
// revoke and Check return errors (never panic, never accept).
func TestCorruptRecordsFailClosed(t *testing.T) {
	ctx := context.Background()
	type fixture struct {
		s                *Store
		m                *apitoken.Manager
		admin            apitoken.Principal
		secret, id       string
		hash             apitoken.Hash
		userID           string
		userTokenSecret  string
		userTokenID      string
		userTokenHashKey apitoken.Hash
	}
	setup := func(t *testing.T) *fixture {
		s, err := Open(filepath.Join(t.TempDir(), "c.db"), &Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		m, _ := apitoken.New(s, &apitoken.Options{CacheSize: -1})
		t.Cleanup(func() { m.Close() })
		adminUser, _ := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
		l, _ := m.StartSession(ctx, adminUser.ID)
		admin, _ := m.Verify(ctx, l.Secret, "")
		acct, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "u@example.com", Role: apitoken.Normal})
		ul, _ := m.StartSession(ctx, u.ID)
		up, _ := m.Verify(ctx, ul.Secret, "")
		ut, _ := m.Issue(ctx, up, apitoken.IssueRequest{})
		for _, sec := range []string{acct.Secret, ut.Secret} {
			if _, err := m.Verify(ctx, sec, ""); err != nil {
				t.Fatal(err)
			}
		}
		return &fixture{s: s, m: m, admin: admin, secret: acct.Secret, id: acct.Token.ID, hash: acct.Token.Hash,
			userID: u.ID, userTokenSecret: ut.Secret, userTokenID: ut.Token.ID, userTokenHashKey: ut.Token.Hash}
	}
	write := func(t *testing.T, s *Store, fn func(tx *bbolt.Tx) error) {
		if err := s.db.Update(fn); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, f *fixture)
		secret  func(f *fixture) string
		id      func(f *fixture) string
		// intactToken: only the owner is corrupt, so revoking the (intact)
		// token record works, which is the fail-safe direction, and
		// listing (which reads no users) works too.
		intactToken bool
	}{
		{"garbage under a token's hash", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTokens).Put(f.hash[:], []byte("\x01garbage")) })
		}, func(f *fixture) string { return f.secret }, func(f *fixture) string { return f.id }, false},
		{"a record of an unknown version", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error {
				v := append([]byte{9}, tx.Bucket(bucketTokens).Get(f.hash[:])[1:]...)
				return tx.Bucket(bucketTokens).Put(f.hash[:], v)
			})
		}, func(f *fixture) string { return f.secret }, func(f *fixture) string { return f.id }, false},
		{"a user token without a user (an impossible state)", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error {
				tk, err := decodeToken(f.hash, tx.Bucket(bucketTokens).Get(f.hash[:]))
				if err != nil {
					return err
				}
				tk.Owner = apitoken.OwnerUser // an account token claiming a user owner, with no user
				return tx.Bucket(bucketTokens).Put(f.hash[:], encodeToken(tk))
			})
		}, func(f *fixture) string { return f.secret }, func(f *fixture) string { return f.id }, false},
		{"an ID index entry pointing at nothing", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTokens).Delete(f.hash[:]) })
		}, nil, func(f *fixture) string { return f.id }, false},
		{"an ID index entry that is not a hash", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTokenIDs).Put([]byte(f.id), []byte("short")) })
		}, nil, func(f *fixture) string { return f.id }, false},
		{"an ID index entry pointing at another token", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error { return tx.Bucket(bucketTokenIDs).Put([]byte(f.id), f.userTokenHashKey[:]) })
		}, nil, func(f *fixture) string { return f.id }, false},
		{"an ID index prefix pointing at another token", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketTokenIDs).Put([]byte(f.id), f.userTokenHashKey[:idRefLen])
			})
		}, nil, func(f *fixture) string { return f.id }, false},
		{"a garbage owner record", func(t *testing.T, f *fixture) {
			write(t, f.s, func(tx *bbolt.Tx) error { return tx.Bucket(bucketUsers).Put([]byte(f.userID), []byte{1, 2, 3}) })
		}, func(f *fixture) string { return f.userTokenSecret }, func(f *fixture) string { return f.userTokenID }, true},
	} {
		t.Run(tc.name+" fails closed", func(t *testing.T) {
			f := setup(t)
			tc.corrupt(t, f)
			if tc.secret != nil {
				if p, err := f.m.Verify(ctx, tc.secret(f), ""); err == nil {
					t.Fatalf("verify accepted: %+v", p)
				}
			}
			err := f.m.Revoke(ctx, f.admin, tc.id(f))
			if tc.intactToken {
				if err != nil {
					t.Fatalf("revoking an intact token of a corrupt owner: %v", err)
				}
				rec, err := f.s.TokenByID(ctx, tc.id(f))
				if err != nil || rec.Revoked.IsZero() {
					t.Fatalf("the token is not revoked: %v", err)
				}
				if _, err := f.m.Verify(ctx, tc.secret(f), ""); err == nil {
					t.Fatal("verify accepted after revoke")
				}
			} else {
				if err == nil {
					t.Fatal("revoke succeeded on a corrupt record")
				}
				if _, err := f.m.List(ctx, f.admin, apitoken.ListOptions{}); err == nil {
					t.Fatal("list succeeded over a corrupt record")
				}
			}
			if err := f.s.Check(ctx); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Check: %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("a dangling account index entry fails list and Check", func(t *testing.T) {
		f := setup(t)
		write(t, f.s, func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketByAccount).Put(append(appendPart(nil, "acme"), "\x00\x00\x00\x00\x00\x00\x00\x00ghost0000000000"...), nil)
		})
		if _, err := f.m.List(ctx, f.admin, apitoken.ListOptions{}); err == nil {
			t.Fatal("list succeeded")
		}
		if err := f.s.Check(ctx); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Check: %v", err)
		}
		if _, err := f.m.Verify(ctx, f.secret, ""); err != nil {
			t.Fatalf("an intact token stopped verifying: %v", err)
		}
	})
}
