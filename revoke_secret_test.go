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
		for _, keys := range []struct {
			name  string
			opts  apitoken.Options
			reads int64 // by hash, one per stored form (and the current key again), and one by ID
		}{
			{"HashKey", apitoken.Options{HashKey: []byte("revoke by possession test key 32")}, 2},
			{"a keyring of 3 beside HashKey", apitoken.Options{HashKey: []byte("revoke by possession test key 32"),
				HashKeys: map[uint32][]byte{1: key(1), 2: key(2), 3: key(3)}, CurrentHashKey: 3}, 6},
		} {
			t.Run(st.name+"/"+keys.name, func(t *testing.T) {
				s := storetest.NewCounting(st.open(t))
				m, err := apitoken.New(s, &keys.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				iss := issueAPIToken(t, m)
				n := keys.reads
				for _, tc := range []struct {
					name                 string
					secret               string
					reads, writes, empty int64
				}{
					{"live", iss.Secret, n, 1, 0},
					{"revoked", iss.Secret, n, 0, 1},
					{"revoked again", iss.Secret, n, 0, 1},
					{"unknown", mustGenerate(), n, 0, 1},
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

// RevokeFor revokes any token of the named account on the host's
// authority, API token or session, effective at once for a cached token,
// reported once as event.Revoked with no actor; another account's token,
// an empty account and an unknown ID are ErrNotFound and change nothing.
func TestRevokeForOnTheHostsAuthority(t *testing.T) {
	var ev events
	m, s := newManager(t, &apitoken.Options{OnEvent: ev.add})
	iss := issueAPIToken(t, m)
	session, err := m.StartSession(ctx, iss.Token.UserID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := m.IssueFor(ctx, "globex", "", apitoken.IssueRequest{Privilege: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // cached
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, account, id string
		err               error
		writes            int64
		revoked           string // the secret that must now fail with ErrRevoked
	}{
		{"an API token of the account", "acme", iss.Token.ID, nil, 1, iss.Secret},
		{"the same again", "acme", iss.Token.ID, nil, 0, ""},
		{"a session of the account", "acme", session.Token.ID, nil, 1, session.Secret},
		{"another account's token", "acme", other.Token.ID, apitoken.ErrNotFound, 0, ""},
		{"no account", "", other.Token.ID, apitoken.ErrNotFound, 0, ""},
		{"an unknown ID", "globex", "0000000000000001", apitoken.ErrNotFound, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ev.mu.Lock()
			ev.all = nil
			ev.mu.Unlock()
			w0 := s.Writes()
			if err := m.RevokeFor(ctx, c.account, c.id); !errors.Is(err, c.err) || (c.err == nil && err != nil) {
				t.Fatalf("RevokeFor = %v, want %v", err, c.err)
			}
			if w := s.Writes() - w0; w != c.writes {
				t.Errorf("%d writes, want %d", w, c.writes)
			}
			var revoked []apitoken.Event
			ev.mu.Lock()
			for _, e := range ev.all {
				if e.Type == event.Revoked {
					revoked = append(revoked, e)
				}
			}
			ev.mu.Unlock()
			if c.writes == 0 && len(revoked) != 0 {
				t.Errorf("events %v, want none", revoked)
			}
			if c.writes == 1 && (len(revoked) != 1 || revoked[0].TokenID != c.id || revoked[0].Account != c.account || revoked[0].ActorID != "") {
				t.Errorf("events %+v, want one event.Revoked of %s with no actor", revoked, c.id)
			}
			if c.revoked != "" {
				if _, err := m.Verify(ctx, c.revoked, ""); !errors.Is(err, apitoken.ErrRevoked) {
					t.Errorf("verify after RevokeFor: %v, want ErrRevoked", err)
				}
			}
		})
	}
	if _, err := m.Verify(ctx, other.Secret, ""); err != nil {
		t.Errorf("the other account's token: %v", err)
	}
}
