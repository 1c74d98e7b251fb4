package apitoken_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// The rules of Options.HashKey, HashKeys and CurrentHashKey.
func TestKeyringRules(t *testing.T) {
	for _, c := range []struct {
		name    string
		legacy  []byte
		keys    map[uint32][]byte
		current uint32
		refused string // part of the error; empty: accepted
	}{
		{"no key at all: plain SHA-256", nil, nil, 0, ""},
		{"HashKey alone, as before keyrings", key(1), nil, 0, ""},
		{"a keyring of one key", nil, map[uint32][]byte{1: key(2)}, 1, ""},
		{"a keyring beside the legacy HashKey", key(1), map[uint32][]byte{1: key(2), 2: key(3)}, 2, ""},
		{"the legacy key's bytes reused in the ring", key(1), map[uint32][]byte{1: key(1)}, 1, ""},
		{"eight keys", nil, map[uint32][]byte{1: key(1), 2: key(2), 3: key(3), 4: key(4), 5: key(5), 6: key(6), 7: key(7), 8: key(8)}, 8, ""},
		{"an ID as large as uint32 allows", nil, map[uint32][]byte{4294967295: key(2)}, 4294967295, ""},
		{"a current key without a keyring", key(1), nil, 1, "HashKeys is empty"},
		{"no current key", nil, map[uint32][]byte{1: key(2)}, 0, "CurrentHashKey 0"},
		{"a current key the ring lacks", nil, map[uint32][]byte{1: key(2)}, 2, "CurrentHashKey 2"},
		{"key ID 0 in the ring", nil, map[uint32][]byte{0: key(2), 1: key(3)}, 1, "ID 0"},
		{"a short ring key", nil, map[uint32][]byte{1: key(2), 2: make([]byte, 31)}, 1, "hash key 2 has 31 bytes"},
		{"an empty ring key", nil, map[uint32][]byte{1: nil}, 1, "hash key 1 has 0 bytes"},
		{"one key under two IDs", nil, map[uint32][]byte{1: key(2), 2: key(2)}, 2, "hash keys 1 and 2 are the same key"},
		{"nine keys", nil, map[uint32][]byte{1: key(1), 2: key(2), 3: key(3), 4: key(4), 5: key(5), 6: key(6), 7: key(7), 8: key(8), 9: key(9)}, 1, "at most 8"},
		{"a short legacy key beside a ring", make([]byte, 16), map[uint32][]byte{1: key(2)}, 1, "HashKey has 16 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: c.legacy, HashKeys: c.keys, CurrentHashKey: c.current})
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				m.Close()
				return
			}
			if !errors.Is(err, apitoken.ErrInvalidArgument) || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("got %v, want ErrInvalidArgument saying %q", err, c.refused)
			}
		})
	}
}

// New copies the keyring: a host that reuses its map changes nothing.
func TestNewCopiesTheKeyring(t *testing.T) {
	keys := map[uint32][]byte{1: key(1)}
	m, _ := newManager(t, &apitoken.Options{HashKeys: keys, CurrentHashKey: 1})
	iss := issueAPIToken(t, m)
	keys[1][0] ^= 0xff
	delete(keys, 1)
	m2, err := apitoken.New(memstore.New(), &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m.HashOf(iss.Secret) != m2.HashOf(iss.Secret) || iss.Token.Hash != m.HashOf(iss.Secret) || iss.Token.HashKeyID != 1 {
		t.Fatal("the Manager's keyring changed with the caller's map")
	}
}

// Each form of stored hash: the legacy HMAC, and the keyring's permuted
// form, which differs per key and carries the issue time up front.
func TestKeyringHashForms(t *testing.T) {
	tok := mustGenerate()
	legacy, _ := newManager(t, &apitoken.Options{HashKey: key(1)})
	one, _ := newManager(t, &apitoken.Options{HashKey: key(1), HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1})
	two, _ := newManager(t, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1), 2: key(2)}, CurrentHashKey: 2})
	hl, h1, h2 := legacy.HashOf(tok), one.HashOf(tok), two.HashOf(tok)
	if hl == h1 || h1 == h2 || hl == h2 {
		t.Fatal("two forms or two keys give the same stored hash")
	}
	if !bytes.Equal(hl[:6], h1[:6]) || !bytes.Equal(h1[:6], h2[:6]) {
		t.Fatal("the forms do not share the issue time stamp")
	}
}

// A token moved to the current key on use, then revoked, fails at once:
// the cache follows its new hash.
func TestTokenMovedOnUseThenRevokedFails(t *testing.T) {
	s := memstore.New()
	old, err := apitoken.New(s, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1})
	if err != nil {
		t.Fatal(err)
	}
	iss := issueAPIToken(t, old)
	old.Close()
	m, err := apitoken.New(s, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1), 2: key(2)}, CurrentHashKey: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for range 2 { // a miss that moves it, then a cache hit
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := s.TokenByID(ctx, iss.Token.ID)
	if err != nil || rec.HashKeyID != 2 || rec.Hash != m.HashOf(iss.Secret) {
		t.Fatalf("after a use the record is under key %d (%v), want key 2", rec.HashKeyID, err)
	}
	if err := m.RevokeSecret(ctx, iss.Secret); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("after the revocation Verify returned %v, want ErrRevoked", err)
	}
}

// A token found under an older key is held to its allow-list and its
// scopes as under the current one, and keeps its scopes, allowed ranges
// and expiry warning when it moves to the current key on use.
func TestTokenMovedOnUseKeepsScopesAllowListAndWarning(t *testing.T) {
	store := memstore.New()
	old, err := apitoken.New(store, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1, Scopes: vocabulary})
	must(t, err)
	u, err := old.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "n@example.com", Role: apitoken.Normal})
	must(t, err)
	l, err := old.StartSession(ctx, u.ID)
	must(t, err)
	sess, err := old.Verify(ctx, l.Secret, "")
	must(t, err)
	inside, outside := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
	iss, err := old.Issue(ctx, sess, apitoken.IssueRequest{Scopes: []string{"documents:read"},
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	must(t, err)
	old.Close()
	rec, err := store.TokenByID(ctx, iss.Token.ID)
	must(t, err)
	if rec.HashKeyID != 1 {
		t.Fatalf("issued under key %d, want 1", rec.HashKeyID)
	}
	rec.ExpiryWarned = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	must(t, store.UpdateToken(ctx, rec))
	want := rec.Clone()

	m, err := apitoken.New(store, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1), 2: key(2)}, CurrentHashKey: 2, Scopes: vocabulary})
	must(t, err)
	defer m.Close()
	// Refused from outside the range and without an address, though the
	// lookup found it under key 1 and moved it.
	if _, err := m.VerifyFrom(ctx, iss.Secret, "", outside); apitoken.HTTPErrorOf(err).Code != "address_not_allowed" {
		t.Fatalf("from outside the range: %v", err)
	}
	if _, err := m.Verify(ctx, iss.Secret, ""); apitoken.HTTPErrorOf(err).Code != "address_not_allowed" {
		t.Fatalf("without an address: %v", err)
	}
	got, err := store.TokenByID(ctx, iss.Token.ID)
	must(t, err)
	if got.HashKeyID != 2 || got.Hash != m.HashOf(iss.Secret) {
		t.Fatalf("the record is under key %d, want 2", got.HashKeyID)
	}
	want.Hash, want.HashKeyID, want.Version = got.Hash, 2, got.Version
	if !got.Equal(want) {
		t.Fatalf("the move changed the record:\n got %+v\nwant %+v", got, want)
	}
	p, err := m.VerifyFrom(ctx, iss.Secret, "", inside)
	must(t, err)
	wantScopes(t, p, "documents:read")
	if p.HasScope("keys:manage") {
		t.Fatal("the moved token gained a scope it does not carry")
	}
}

// DeriveKey derives from the current key; DeriveKeyring gives every key
// by ID, and refuses the keyring's own label.
func TestDeriveKeyring(t *testing.T) {
	m, _ := newManager(t, &apitoken.Options{HashKey: key(9), HashKeys: map[uint32][]byte{1: key(1), 2: key(2)}, CurrentHashKey: 2})
	cur, keys := m.DeriveKeyring("purpose x")
	if cur != 2 || len(keys) != 3 || !bytes.Equal(keys[2], m.DeriveKey("purpose x")) || bytes.Equal(keys[1], keys[2]) || bytes.Equal(keys[0], keys[2]) {
		t.Fatalf("DeriveKeyring = %d, %d keys", cur, len(keys))
	}
	legacy, _ := newManager(t, &apitoken.Options{HashKey: key(9)})
	if !bytes.Equal(legacy.DeriveKey("purpose x"), keys[0]) {
		t.Fatal("key 0 is not what DeriveKey gave before the keyring")
	}
	none, _ := newManager(t, nil)
	if cur, keys := none.DeriveKeyring("purpose x"); cur != 0 || len(keys) != 0 || none.DeriveKey("purpose x") != nil {
		t.Fatal("a Manager without keys derived one")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("DeriveKey gave the key of the keyring's permutation")
		}
	}()
	m.DeriveKey("apitoken hash permutation v1")
}

// RekeyHashes and HashKeyCounts need a store that walks.
func TestRekeyNeedsAWalker(t *testing.T) {
	m, _ := newManager(t, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1})
	if _, err := m.HashKeyCounts(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("HashKeyCounts over a store without migrate.Walker: %v", err)
	}
	if _, err := m.RekeyHashes(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("RekeyHashes over a store without migrate.Walker: %v", err)
	}
}

// BenchmarkVerifyUnknown is the cost of a well-formed token that is not
// stored: it misses the cache and is looked up under every form the
// Manager reads. legacy is HashKey alone (one HMAC, one lookup); keys=N is
// a keyring of N keys (one SHA-256, N permutations and N lookups, and with
// more than one form the current key's looked up again, for a record that
// moved meanwhile); keys=N+legacy reads the HashKey's records too.
func BenchmarkVerifyUnknown(b *testing.B) {
	ring := func(n int) map[uint32][]byte {
		keys := map[uint32][]byte{}
		for i := 1; i <= n; i++ {
			keys[uint32(i)] = key(byte(i))
		}
		return keys
	}
	for _, c := range []struct {
		name   string
		legacy []byte
		n      int
	}{{"legacy", key(9), 0}, {"keys=1", nil, 1}, {"keys=2", nil, 2}, {"keys=3", nil, 3}, {"keys=3+legacy", key(9), 3}} {
		b.Run(c.name, func(b *testing.B) {
			o := &apitoken.Options{HashKey: c.legacy}
			if c.n > 0 {
				o.HashKeys, o.CurrentHashKey = ring(c.n), uint32(c.n)
			}
			m, s := newManager(b, o)
			issueAPIToken(b, m)
			unknown := mustGenerate()
			b.ReportAllocs()
			reads := s.Reads()
			for b.Loop() {
				if _, err := m.Verify(ctx, unknown, ""); !errors.Is(err, apitoken.ErrUnknown) {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.Reads()-reads)/float64(b.N), "reads/op")
		})
	}
}

// BenchmarkVerifyKeyring is verification of a token stored under the
// current key of a 3-key ring, hot (cached) and cold (no cache), beside
// BenchmarkVerifyHot and BenchmarkVerifyCold's HashKey alone.
func BenchmarkVerifyKeyring(b *testing.B) {
	for _, cache := range []int{0, -1} {
		b.Run(fmt.Sprintf("cache=%v", cache == 0), func(b *testing.B) {
			m, _ := newManager(b, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1), 2: key(2), 3: key(3)}, CurrentHashKey: 3, CacheSize: cache})
			iss := issueAPIToken(b, m)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// RevokeSecret answers an unknown secret, a revoked token and a live one
// at the same cost whatever key their records are under: the same reads,
// and one write or one empty commit. It never moves a record to the
// current key (that would be an extra write only a known token costs).
func TestRevokeSecretCostsTheSameUnderAnOldKey(t *testing.T) {
	mem := memstore.New()
	m1, err := apitoken.New(mem, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1)}, CurrentHashKey: 1})
	must(t, err)
	revoked := issueAPIToken(t, m1)
	live, err := m1.IssueFor(ctx, revoked.Token.Account, revoked.Token.UserID, apitoken.IssueRequest{})
	must(t, err)
	must(t, m1.RevokeSecret(ctx, revoked.Secret))
	m1.Close()
	s := storetest.NewCounting(mem)
	m2, err := apitoken.New(s, &apitoken.Options{HashKeys: map[uint32][]byte{1: key(1), 2: key(2)}, CurrentHashKey: 2, CacheSize: -1})
	must(t, err)
	defer m2.Close()
	type cost struct{ reads, writes int64 }
	var costs []cost
	for _, secret := range []string{mustGenerate(), revoked.Secret, live.Secret} {
		r0, w0, e0 := s.Reads(), s.Writes(), s.EmptyCommits()
		must(t, m2.RevokeSecret(ctx, secret))
		costs = append(costs, cost{s.Reads() - r0, s.Writes() - w0 + s.EmptyCommits() - e0})
	}
	for i, c := range costs {
		if c != costs[0] || c.writes != 1 {
			t.Fatalf("unknown, revoked, live under key 1: %+v; case %d differs or writes more than once", costs, i)
		}
	}
	if _, err := m2.Verify(ctx, live.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("the live token after RevokeSecret: %v", err)
	}
}
