package apitoken

import (
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken/internal/cache"
)

// randomRecord is a token and owner with every field verification reads
// drawn at random, including the failure cases.
func randomRecord(rng *mrand.Rand, i int) (*Token, *User) {
	base := time.Unix(1_800_000_000, 0)
	at := func() time.Time {
		if rng.IntN(4) == 0 {
			return time.Time{}
		}
		return base.Add(time.Duration(rng.Int64N(int64(1000 * time.Hour))))
	}
	t := &Token{ID: fmt.Sprintf("tok%06d", i), Account: strings.Repeat("a", rng.IntN(40)),
		Kind: Kind(1 + rng.IntN(2)), Owner: Owner(1 + rng.IntN(2)), Privilege: Privilege(rng.IntN(5)),
		Created: at(), LastUsed: at(), Expires: at(), Revoked: at(), Unlocked: rng.IntN(2) == 0,
		DefaultAppState: AppState(1 + rng.IntN(3))}
	t.Hash[0], t.Hash[1], t.Hash[2] = byte(i), byte(i>>8), byte(i>>16)
	t.Hash[24], t.Hash[25], t.Hash[26] = byte(i), byte(i>>8), byte(i>>16) // distinct mapKeys
	if t.Owner == OwnerUser {
		t.UserID = fmt.Sprintf("usr%03d", rng.IntN(50))
	}
	for j := range rng.IntN(5) {
		name := fmt.Sprintf("app-%d", j)
		if j == 3 || (j == 0 && rng.IntN(3) == 0) { // longer than the cache's inline names
			name = fmt.Sprintf("an-application-with-a-long-name-%d", j)
		}
		t.Apps = append(t.Apps, App{Name: name, State: AppState(1 + rng.IntN(3))})
	}
	var u *User
	if t.Owner == OwnerUser && rng.IntN(10) != 0 { // a missing owner: not cached
		u = &User{ID: t.UserID, Account: t.Account, Role: Privilege(rng.IntN(5)), Disabled: rng.IntN(6) == 0,
			SessionsValidAfter: at()}
		if rng.IntN(8) == 0 {
			u.Account += "x"
		}
	}
	return t, u
}

// sameView compares two views field by field, times by instant.
func sameView(a, b view) error {
	if !a.active.Equal(b.active) || !a.expires.Equal(b.expires) {
		return fmt.Errorf("times differ: %v %v vs %v %v", a.active, a.expires, b.active, b.expires)
	}
	a.active, a.expires, a.ref = time.Time{}, time.Time{}, cache.Ref{}
	b.active, b.expires, b.ref = time.Time{}, time.Time{}, cache.Ref{}
	if a != b {
		return fmt.Errorf("\n%+v\n%+v", a, b)
	}
	return nil
}

// Verification reads a cached token through the cache and an uncached one
// through newView: the two must agree on every field for every record, so
// the flattening into a cache entry loses nothing policy decided.
func TestCachedViewsEqualViewsOfTheStoredRecord(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 8))
	c := tokenCache{cache.New(1_000_000, time.Second, time.Now, nil)}
	vocab, err := newScopeVocab(map[Privilege][]string{ReadOnly: {"a:read", "b:read"}, Normal: {"a:write"}, Admin: {"users"}})
	if err != nil {
		t.Fatal(err)
	}
	type record struct {
		key Hash
		tok *Token
		u   *User
	}
	var cached []record
	apps := []string{"app-0", "app-2", "an-application-with-a-long-name-0", "an-application-with-a-long-name-3", "an-application-with-a-long-name-4", "other", ""}
	check := func(r record, app string) {
		t.Helper()
		var got view
		if !c.get(r.key, app, &got, vocab) {
			t.Fatalf("record %s: cached but not found", r.tok.ID)
		}
		if err := sameView(got, storedView(r.tok, r.u, app, vocab)); err != nil {
			t.Fatalf("record %s, app %q: %v", r.tok.ID, app, err)
		}
	}
	for i := range 20_000 {
		tok, u := randomRecord(rng, i)
		if rng.IntN(3) == 0 {
			tok.Scopes = []string{"a:read", "a:write", "b:read", "users", "gone"}[rng.IntN(3) : rng.IntN(3)+2]
		}
		if rng.IntN(4) == 0 {
			tok.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}[:1+rng.IntN(2)]
		}
		key := Hash{0: byte(i), 1: byte(i >> 8), 2: byte(i >> 16), 24: byte(i), 25: byte(i >> 8), 26: byte(i >> 16), 31: 1}
		if _, ok := c.put(c.Generation(), key, tok, u, vocab); !ok {
			if tok.Owner == OwnerUser && u == nil {
				continue
			}
			t.Fatalf("record %d not cached", i)
		}
		if tok.Owner == OwnerUser && u == nil {
			t.Fatalf("record %d cached with its owner missing", i)
		}
		cached = append(cached, record{key, tok, u})
		for _, app := range apps {
			check(cached[len(cached)-1], app)
		}
	}
	if len(cached) < 18_000 {
		t.Fatalf("only %d records cached", len(cached))
	}
	for _, r := range cached {
		check(r, apps[0])
	}
}
