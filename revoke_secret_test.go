package apitoken_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// Revoke by possession makes the same store reads whatever the token's
// state, writes the record of a live token only, and never writes one for
// a token already revoked, however often it is presented. Where it writes
// nothing it commits an empty transaction instead (bolt: the same fsync a
// write costs), which changes no record.
func TestRevokeSecretWritesOnlyForALiveToken(t *testing.T) {
	for _, st := range []struct {
		name string
		open func(t *testing.T) apitoken.Store
	}{
		{"memstore", func(*testing.T) apitoken.Store { return memstore.New() }},
		{"bolt", func(t *testing.T) apitoken.Store {
			s, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(st.name, func(t *testing.T) {
			s := storetest.NewCounting(st.open(t))
			m, err := apitoken.New(s, &apitoken.Options{HashKey: []byte("revoke by possession test key 32")})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			iss := issueAPIToken(t, m)
			for _, tc := range []struct {
				name                 string
				secret               string
				reads, writes, empty int64
			}{
				{"live", iss.Secret, 2, 1, 0},
				{"revoked", iss.Secret, 2, 0, 1},
				{"revoked again", iss.Secret, 2, 0, 1},
				{"unknown", mustGenerate(), 2, 0, 1},
			} {
				r0, w0, e0 := s.Reads(), s.Writes(), s.EmptyCommits()
				if err := m.RevokeSecret(ctx, tc.secret); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if r, w, e := s.Reads()-r0, s.Writes()-w0, s.EmptyCommits()-e0; r != tc.reads || w != tc.writes || e != tc.empty {
					t.Errorf("%s: %d reads, %d writes, %d empty commits; want %d, %d, %d", tc.name, r, w, e, tc.reads, tc.writes, tc.empty)
				}
			}
			rec, err := s.TokenByID(ctx, iss.Token.ID)
			if err != nil {
				t.Fatal(err)
			}
			version := rec.Version
			w0 := s.Writes()
			for range 100 {
				if err := m.RevokeSecret(ctx, iss.Secret); err != nil {
					t.Fatal(err)
				}
			}
			if w := s.Writes() - w0; w != 0 {
				t.Errorf("100 repeated revokes of a revoked token made %d store writes, want 0", w)
			}
			if rec, err = s.TokenByID(ctx, iss.Token.ID); err != nil || rec.Version != version {
				t.Errorf("the revoked record changed: version %d, was %d (%v)", rec.Version, version, err)
			}
			if _, err := m.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
				t.Errorf("after revoke by possession: %v", err)
			}
		})
	}
}

// Revoking a revoked token by ID writes nothing either, and emits no
// second event.Revoked.
func TestRevokeByIDOfARevokedTokenWritesNothing(t *testing.T) {
	var mu sync.Mutex
	revokedEvents := 0
	m, s := newManager(t, &apitoken.Options{OnEvent: func(e apitoken.Event) {
		if e.Type == event.Revoked {
			mu.Lock()
			revokedEvents++
			mu.Unlock()
		}
	}})
	iss := issueAPIToken(t, m)
	if err := m.RevokeSecret(ctx, iss.Secret); err != nil {
		t.Fatal(err)
	}
	admin := adminPrincipal(t, m)
	w0 := s.Writes()
	for range 3 {
		if err := m.Revoke(ctx, admin, iss.Token.ID); err != nil {
			t.Fatal(err)
		}
	}
	if w := s.Writes() - w0; w != 0 {
		t.Errorf("revoking a revoked token by ID made %d writes", w)
	}
	if revokedEvents != 1 {
		t.Errorf("%d event.Revoked, want 1", revokedEvents)
	}
}

// adminPrincipal adds an admin of account acme and returns its session's
// Principal.
func adminPrincipal(t *testing.T, m *apitoken.Manager) apitoken.Principal {
	t.Helper()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
