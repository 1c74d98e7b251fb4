package storetest

import (
	"crypto/sha256"
	"errors"
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/migrate"
)

// Hash key rotation: the store's part (Token.HashKeyID, RehashToken) and
// the whole rotation through Managers over one store.

var keyringCases = []storeCase{
	{"HashKeyID round-trips, and UpdateToken refuses to change it", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.HashKeyID = 4_000_000_000
		must(t, s.CreateToken(ctx, tk))
		got, err := s.TokenByHash(ctx, tk.Hash)
		must(t, err)
		sameToken(t, got, tk)
		got.HashKeyID = 7
		wantErr(t, s.UpdateToken(ctx, got), apitoken.ErrInvalidArgument)
		again, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		sameToken(t, again, tk)
	}},
	{"A record without a hash key ID reads as key 0, as records written before keyrings", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if got.HashKeyID != 0 {
			t.Fatalf("HashKeyID = %d, want 0", got.HashKeyID)
		}
	}},
	{"RehashToken moves a record to its new hash and key at its version, keeping every other field", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.Apps = []apitoken.App{{Name: "ci", State: apitoken.Allow, FirstSeen: base, LastSeen: base}}
		tk.Scopes = []string{"documents:read", "keys:read"}
		tk.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
		tk.LastUsed, tk.LastUsedIP = base.Add(time.Minute), netip.MustParseAddr("10.1.2.3")
		tk.ExpiryWarned = base.Add(2 * time.Minute)
		must(t, s.CreateToken(ctx, tk))
		other := Token(2, "acme", "u1")
		must(t, s.CreateToken(ctx, other))
		h := sha256.Sum256([]byte("rehashed"))
		moved := tk.Clone()
		moved.Description = "not written: RehashToken reads only the ID and Version"
		must(t, s.RehashToken(ctx, moved, h, 2))
		if moved.Hash != h || moved.HashKeyID != 2 || moved.Version != 2 {
			t.Fatalf("RehashToken set hash %v key %d version %d, want the new hash, key 2, version 2", moved.Hash, moved.HashKeyID, moved.Version)
		}
		want := tk.Clone()
		want.Hash, want.HashKeyID, want.Version = h, 2, 2
		got, err := s.TokenByHash(ctx, h)
		must(t, err)
		sameToken(t, got, want)
		got, err = s.TokenByID(ctx, tk.ID)
		must(t, err)
		sameToken(t, got, want)
		_, err = s.TokenByHash(ctx, tk.Hash)
		wantErr(t, err, apitoken.ErrNotFound)
		ls, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI})
		must(t, err)
		if len(ls) != 2 || ls[0].ID != tk.ID || ls[0].Hash != h {
			t.Fatalf("listing after RehashToken: %v", ids(ls))
		}
		// The old hash is free again; the other record is untouched.
		fresh := Token(3, "acme", "u1")
		fresh.Hash = tk.Hash
		must(t, s.CreateToken(ctx, fresh))
		o, err := s.TokenByHash(ctx, other.Hash)
		must(t, err)
		sameToken(t, o, other)
		// The moved record updates and deletes as any other.
		got.Description = "after"
		must(t, s.UpdateToken(ctx, got))
		must(t, s.DeleteToken(ctx, tk.ID))
		_, err = s.TokenByHash(ctx, h)
		wantErr(t, err, apitoken.ErrNotFound)
	}},
	{"UpdateToken of a record read before a RehashToken is ErrConflict, so its writer re-reads", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		read := tk.Clone() // read before the move, with the old hash
		moved := tk.Clone()
		must(t, s.RehashToken(ctx, moved, sha256.Sum256([]byte("rehashed")), 2))
		read.Description = "changed"
		wantErr(t, s.UpdateToken(ctx, read), apitoken.ErrConflict)
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if got.Description == "changed" || got.HashKeyID != 2 {
			t.Fatalf("after the refused update: %+v", got)
		}
	}},
	{"RehashToken at a stale version, of a missing ID or to a taken hash fails and changes nothing", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		other := Token(2, "acme", "u1")
		must(t, s.CreateToken(ctx, other))
		h := sha256.Sum256([]byte("rehashed"))
		stale := tk.Clone()
		stale.Version = 7
		wantErr(t, s.RehashToken(ctx, stale, h, 2), apitoken.ErrConflict)
		missing := Token(9, "acme", "u1")
		missing.Version = 1
		wantErr(t, s.RehashToken(ctx, missing, h, 2), apitoken.ErrNotFound)
		wantErr(t, s.RehashToken(ctx, tk.Clone(), other.Hash, 2), apitoken.ErrDuplicate)
		got, err := s.TokenByHash(ctx, tk.Hash)
		must(t, err)
		sameToken(t, got, tk)
		_, err = s.TokenByHash(ctx, h)
		wantErr(t, err, apitoken.ErrNotFound)
		// Exactly one of two moves from the same version wins.
		a, b := tk.Clone(), tk.Clone()
		must(t, s.RehashToken(ctx, a, h, 2))
		wantErr(t, s.RehashToken(ctx, b, sha256.Sum256([]byte("other")), 3), apitoken.ErrConflict)
	}},
	{"Keyring: tokens under key 1 verify once key 2 is current; after the pass none is under key 1, which is dropped", runKeyringRotation},
	{"Keyring: the pass runs while tokens are verified and revoked, and loses no change", runKeyringPassUnderLoad},
}

// runKeyringPassUnderLoad moves tokens to key 2 by use and by the pass at
// once, while some are revoked: every token ends under key 2, the revoked
// ones revoked, the others live.
func runKeyringPassUnderLoad(t *testing.T, s apitoken.Store) {
	if _, ok := s.(migrate.Walker); !ok {
		t.Skip("the store is not a migrate.Walker")
	}
	open := func(current uint32) *apitoken.Manager {
		m, err := apitoken.New(s, &apitoken.Options{HashKeys: map[uint32][]byte{1: ringKey1, 2: ringKey2}, CurrentHashKey: current,
			FlushInterval: time.Hour, PurgeInterval: -1, CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	m1 := open(1)
	u, err := m1.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "load", Role: apitoken.Admin})
	must(t, err)
	const n = 24
	var secrets []string
	for range n {
		iss, err := m1.IssueFor(ctx, "acme", u.ID, apitoken.IssueRequest{})
		must(t, err)
		secrets = append(secrets, iss.Secret)
	}
	m2, other := open(2), open(2)
	done := make(chan error, 3)
	go func() { // verifications, which move tokens on use
		for i, sec := range secrets {
			if i%3 == 0 {
				continue
			}
			if _, err := other.Verify(ctx, sec, "load-app"); err != nil && !errors.Is(err, apitoken.ErrRevoked) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() { // revocations of every third token
		for i := 0; i < n; i += 3 {
			if err := other.RevokeSecret(ctx, secrets[i]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		_, err := m2.RekeyHashes(ctx)
		done <- err
	}()
	var failed []error // all three finish before the test may fail
	for range 3 {
		if err := <-done; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) > 0 {
		t.Fatal(failed)
	}
	// A second pass moves what the first lost a race for.
	remain, err := m2.RekeyHashes(ctx)
	must(t, err)
	if len(remain) != 0 {
		t.Fatalf("after two passes %v remain", remain)
	}
	c, err := m2.HashKeyCounts(ctx)
	must(t, err)
	if c[2] != n || len(c) != 1 {
		t.Fatalf("records per key %v, want all %d under key 2", c, n)
	}
	for i, sec := range secrets {
		_, err := m2.Verify(ctx, sec, "load-app")
		if i%3 == 0 && !errors.Is(err, apitoken.ErrRevoked) || i%3 != 0 && err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}

// Keys of the rotation scenario.
var (
	legacyKey = []byte("storetest legacy hash key, 32 b.")
	ringKey1  = []byte("storetest keyring key one, 32 b.")
	ringKey2  = []byte("storetest keyring key two, 32 b.")
	ringKey3  = []byte("storetest keyring key three, 32.")
)

// runKeyringRotation rotates the hash key over one store through a
// Manager per configuration, as a host restarting with new options would.
func runKeyringRotation(t *testing.T, s apitoken.Store) {
	if _, ok := s.(migrate.Walker); !ok {
		t.Skip("the store is not a migrate.Walker: the rotation's pass walks the store")
	}
	clock := NewClock(base)
	open := func(legacy []byte, keys map[uint32][]byte, current uint32) (*apitoken.Manager, *login.Service) {
		t.Helper()
		m, err := apitoken.New(s, &apitoken.Options{HashKey: legacy, HashKeys: keys, CurrentHashKey: current,
			Now: clock.Now, FlushInterval: time.Hour, PurgeInterval: -1, SessionIdleTimeout: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		l, err := login.New(m, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m, l
	}
	issue := func(m *apitoken.Manager, owner *apitoken.User, n int) []string {
		t.Helper()
		var out []string
		for range n {
			iss, err := m.IssueFor(ctx, owner.Account, owner.ID, apitoken.IssueRequest{})
			must(t, err)
			out = append(out, iss.Secret)
		}
		return out
	}
	verifyAll := func(m *apitoken.Manager, secrets []string) {
		t.Helper()
		for i, sec := range secrets {
			if _, err := m.Verify(ctx, sec, ""); err != nil {
				t.Fatalf("token %d: %v", i, err)
			}
		}
	}
	counts := func(m *apitoken.Manager) map[uint32]int {
		t.Helper()
		c, err := m.HashKeyCounts(ctx)
		must(t, err)
		return c
	}
	wantCounts := func(what string, got, want map[uint32]int) {
		t.Helper()
		if !maps.Equal(got, want) {
			t.Fatalf("%s: records per hash key %v, want %v", what, got, want)
		}
	}

	// Before the keyring: HashKey alone, the records of key ID 0.
	m0, l0 := open(legacyKey, nil, 0)
	u, err := m0.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "rotating-admin", Role: apitoken.Admin})
	must(t, err)
	legacy := issue(m0, u, 2)
	sess, err := m0.StartSession(ctx, u.ID)
	must(t, err)
	p, err := m0.Verify(ctx, sess.Secret, "")
	must(t, err)
	mfa := EnableMFA(t, l0, p, clock.Now())

	// Key 1 current: new tokens are under it; old ones still verify.
	m1, _ := open(legacyKey, map[uint32][]byte{1: ringKey1}, 1)
	key1 := issue(m1, u, 3)
	verifyAll(m1, key1)
	wantCounts("key 1 current", counts(m1), map[uint32]int{0: 3, 1: 3}) // 2 legacy tokens and the session

	// Key 2 current: everything still verifies; a token used moves to key 2.
	m2, l2 := open(legacyKey, map[uint32][]byte{1: ringKey1, 2: ringKey2}, 2)
	key2 := issue(m2, u, 1)
	verifyAll(m2, key1[:1])
	verifyAll(m2, legacy[:1])
	wantCounts("after two uses under key 2", counts(m2), map[uint32]int{0: 2, 1: 2, 2: 3})
	// A revocation by secret finds a token under key 1 too.
	victim := issue(m1, u, 1)[0]
	must(t, m2.RevokeSecret(ctx, victim))
	if _, err := m2.Verify(ctx, victim, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("a revoked token under key 1 verified with %v, want ErrRevoked", err)
	}

	// The pass: every key-1 record moves; the legacy HMAC records cannot
	// without their tokens and are reported.
	remain, err := m2.RekeyHashes(ctx)
	must(t, err)
	wantCounts("left by the pass", remain, map[uint32]int{0: 2})
	wantCounts("after the pass", counts(m2), map[uint32]int{0: 2, 2: 6})
	moved, sealed, err := l2.ResealMFA(ctx)
	must(t, err)
	if moved != 1 || len(sealed) != 0 {
		t.Fatalf("ResealMFA moved %d users and left %v, want 1 and none", moved, sealed)
	}
	verifyAll(m2, append(append(append([]string{}, legacy...), key1...), key2...))
	if _, err := m2.Verify(ctx, sess.Secret, ""); err != nil && !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatalf("the session of before the keyring: %v", err)
	}
	wantCounts("after every token was used", counts(m2), map[uint32]int{2: 8})

	// Key 1 and the legacy key dropped: everything verifies under key 2,
	// the MFA secret opens, and a second pass has nothing to do.
	m3, l3 := open(nil, map[uint32][]byte{2: ringKey2}, 2)
	verifyAll(m3, append(append(append([]string{}, legacy...), key1...), key2...))
	remain, err = m3.RekeyHashes(ctx)
	must(t, err)
	wantCounts("left by a second pass", remain, map[uint32]int{})
	again, err := m3.StartSession(ctx, u.ID)
	must(t, err)
	locked, err := m3.Verify(ctx, again.Secret, "")
	wantErr(t, err, apitoken.ErrSessionLocked)
	clock.Advance(time.Minute)
	must(t, l3.Unlock(ctx, locked, login.TOTPCode(mfa, clock.Now())))

	// Dropping a key that still holds records is reported by the pass,
	// and its tokens stop verifying: they were never moved.
	m4, _ := open(nil, map[uint32][]byte{3: ringKey3}, 3)
	remain, err = m4.RekeyHashes(ctx)
	if !errors.Is(err, apitoken.ErrInvalidArgument) || remain[2] != 9 {
		t.Fatalf("a pass without key 2 returned %v and %v, want ErrInvalidArgument and 9 records under key 2", remain, err)
	}
	if _, err := m4.Verify(ctx, key2[0], ""); !errors.Is(err, apitoken.ErrUnknown) {
		t.Fatalf("a token under a dropped key verified with %v, want ErrUnknown", err)
	}
}
