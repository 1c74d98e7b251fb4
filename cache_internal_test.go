package apitoken

import (
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// pointerFree reports the first field path in t that the collector would
// have to trace, or "".
func pointerFree(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return pointerFree(t.Elem(), path+"[]")
	case reflect.Struct:
		for i := range t.NumField() {
			if p := pointerFree(t.Field(i).Type, path+"."+t.Field(i).Name); p != "" {
				return p
			}
		}
		return ""
	}
	return path + " (" + t.String() + ")"
}

func TestCacheEntriesHoldNoPointers(t *testing.T) {
	c := newCache(1, time.Second, time.Now, nil)
	for _, v := range []any{slot{}, appRecord{}, userSlot{}} {
		if p := pointerFree(reflect.TypeOf(v), reflect.TypeOf(v).Name()); p != "" {
			t.Errorf("%s has a pointer", p)
		}
	}
	if p := pointerFree(reflect.TypeOf(c.byKey.entries).Elem(), "keyIndex entry"); p != "" {
		t.Errorf("%s has a pointer", p)
	}
	for _, m := range []any{c.byHash, c.byUser} {
		mt := reflect.TypeOf(m)
		if pointerFree(mt.Key(), "key")+pointerFree(mt.Elem(), "value") != "" {
			t.Errorf("map %s holds pointers", mt)
		}
	}
	if pointerFree(reflect.TypeOf(c.arena.chunks).Elem().Elem(), "chunk") != "" {
		t.Error("arena chunks hold pointers")
	}
}

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
		if j == 3 || (j == 0 && rng.IntN(3) == 0) { // longer than appRecord.short: matched in the arena
			name = fmt.Sprintf("an-application-with-a-long-name-%d", j)
		}
		t.Apps = append(t.Apps, App{Name: name, State: AppState(1 + rng.IntN(3))})
	}
	var u *User
	if t.Owner == OwnerUser {
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
	a.active, a.expires, a.ref = time.Time{}, time.Time{}, slotRef{}
	b.active, b.expires, b.ref = time.Time{}, time.Time{}, slotRef{}
	if a != b {
		return fmt.Errorf("\n%+v\n%+v", a, b)
	}
	return nil
}

// Verification reads a cached token through a slot and an uncached one
// through newView: the two must agree on every field for every record.
func TestCachedViewsEqualViewsOfTheStoredRecord(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 8))
	c := newCache(1_000_000, time.Second, time.Now, nil)
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
		if !c.get(r.key, app, &got) {
			t.Fatalf("record %s: cached but not found", r.tok.ID)
		}
		if err := sameView(got, newView(r.tok, r.u, app)); err != nil {
			t.Fatalf("record %s, app %q: %v", r.tok.ID, app, err)
		}
	}
	for i := range 20_000 {
		tok, u := randomRecord(rng, i)
		key := Hash{0: byte(i), 1: byte(i >> 8), 2: byte(i >> 16), 24: byte(i), 25: byte(i >> 8), 26: byte(i >> 16), 31: 1}
		if _, ok := c.put(c.generation(), key, tok, u); !ok {
			if tok.Owner == OwnerUser && u == nil {
				continue
			}
			t.Fatalf("record %d not cached", i)
		}
		cached = append(cached, record{key, tok, u})
		for _, app := range apps {
			check(cached[len(cached)-1], app)
		}
	}
	if len(cached) < 19_000 {
		t.Fatalf("only %d records cached", len(cached))
	}
	// All of them at once: the index grew from 1,024 entries to 32,768
	// meanwhile, and earlier records must still be found and unchanged.
	for _, r := range cached {
		check(r, apps[0])
	}
}

// Tokens whose keys or hashes share the 8 bytes the index and the map use
// (mapKey) cannot shadow each other: keys are compared whole, so both stay
// cached; a colliding store hash evicts the older token.
func TestPrefixCollisionsEvictRatherThanConfuse(t *testing.T) {
	c := newCache(100, time.Second, time.Now, func(string, time.Time, string) {})
	a := &Token{ID: "a", Kind: KindAPI, Owner: OwnerAccount, Privilege: Normal, Expires: time.Now().Add(time.Hour), Hash: Hash{1, 24: 3}}
	b := &Token{ID: "b", Kind: KindAPI, Owner: OwnerAccount, Privilege: Normal, Expires: time.Now().Add(time.Hour), Hash: Hash{9, 24: 3}}
	b2 := *b
	b2.ID, b2.Hash = "b2", Hash{9, 24: 4}
	keyA, keyB := Hash{1, 31: 5}, Hash{2, 31: 5} // same mapKey
	var v view
	c.put(c.generation(), keyA, a, nil)
	if c.get(keyB, "", &v) {
		t.Fatal("a key that shares only the prefix found a slot")
	}
	c.put(c.generation(), keyB, &b2, nil)
	if !c.get(keyA, "", &v) || v.id != "a" || !c.get(keyB, "", &v) || v.id != "b2" {
		t.Fatal("keys that share a prefix did not both stay cached")
	}
	c.put(c.generation(), keyB, b, nil) // a's hash shares b's prefix
	if c.get(keyA, "", &v) {
		t.Fatal("the older token still answers after a colliding put")
	}
	if !c.get(keyB, "", &v) || v.id != "b" {
		t.Fatalf("the newer token: %+v", v)
	}
	c.invalidateToken(a.Hash) // same mapKey, different hash: must not drop b
	if !c.get(keyB, "", &v) {
		t.Fatal("invalidating a colliding hash dropped another token")
	}
	c.invalidateToken(b.Hash)
	if c.get(keyB, "", &v) {
		t.Fatal("b still cached after its invalidation")
	}
}

// Strings handed out before compaction keep their bytes; compaction bounds
// the arena; pending usage of dropped slots is spilled, not lost.
func TestCompactionKeepsHandedOutStringsAndUsage(t *testing.T) {
	spilled := map[string]time.Time{}
	c := newCache(1000, time.Second, time.Now, func(id string, at time.Time, app string) { spilled[id+"/"+app] = at })
	rng := mrand.New(mrand.NewPCG(3, 4))
	var kept []string
	used := time.Unix(1_900_000_000, 0)
	for i := range 200_000 {
		tok, u := randomRecord(rng, i)
		tok.ID = fmt.Sprintf("%s-%s", tok.ID, strings.Repeat("x", 40))
		tok.Apps = []App{{Name: "app", State: Allow}}
		key := Hash{0: byte(i), 1: byte(i >> 8), 2: byte(i >> 16), 31: 3}
		ref, ok := c.put(c.generation(), key, tok, u)
		if !ok {
			continue
		}
		var v view
		if !c.get(key, "app", &v) || !c.touch(ref, v.app, used) {
			t.Fatalf("record %d not served", i)
		}
		if i%1000 == 0 {
			kept = append(kept, v.id)
		}
		c.invalidateToken(tok.Hash)
	}
	for i, id := range kept {
		if want := fmt.Sprintf("tok%06d-%s", i*1000, strings.Repeat("x", 40)); id != want {
			t.Fatalf("a handed-out ID changed to %q, want %q", id, want)
		}
		if at := spilled[id+"/app"]; !at.Equal(used) {
			t.Fatalf("usage of %s: %v, want %v", id, at, used)
		}
	}
	if n := len(c.arena.chunks); n > 8 {
		t.Fatalf("arena has %d chunks after 200,000 puts and drops of ~80-byte records: not compacted", n)
	}
	runtime.KeepAlive(kept)
}

// Tokens issued in one millisecond share their hashes' first 6 bytes (see
// Hash), so the maps must be keyed by other bytes or they would evict each
// other: with the first 8, 2,000 such tokens would collide about 30 times.
func TestTokensIssuedInOneMillisecondAllStayCached(t *testing.T) {
	c := newCache(4000, time.Second, time.Now, func(string, time.Time, string) {})
	h := NewHasher([]byte("key"))
	for i := range 2000 {
		hash := h.Sum(fmt.Sprint(i))
		hash.stamp(1_700_000_000_000)
		tok := &Token{ID: fmt.Sprint(i), Kind: KindAPI, Owner: OwnerAccount, Privilege: Normal, Expires: time.Now().Add(time.Hour), Hash: hash}
		c.put(c.generation(), h.Sum("key"+fmt.Sprint(i)), tok, nil)
	}
	if len(c.byHash) != 2000 {
		t.Fatalf("%d of 2000 tokens issued in one millisecond are indexed by hash", len(c.byHash))
	}
}

// A slot and its first application must fit two cache lines, so that a
// hit reads the index's line and the slot's and nothing else.
func TestSlotIsTwoCacheLines(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n != 128 {
		t.Fatalf("slot is %d bytes, want 128", n)
	}
	if n := unsafe.Sizeof(appRecord{}); n != 32 {
		t.Fatalf("appRecord is %d bytes, want 32", n)
	}
}
