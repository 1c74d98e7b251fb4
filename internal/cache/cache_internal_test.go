package cache

import (
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync"
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
	c := New(1, time.Second, time.Now, nil)
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

// randomEntry is an entry with every field drawn at random, including
// times a slot cannot hold and the longest application names.
func randomEntry(rng *mrand.Rand, i int) *Entry {
	base := time.Unix(1_800_000_000, 0)
	at := func() time.Time {
		switch rng.IntN(8) {
		case 0, 1:
			return time.Time{}
		case 2:
			return time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC) // outside int64 nanoseconds
		}
		return base.Add(time.Duration(rng.Int64N(int64(1000 * time.Hour))))
	}
	e := &Entry{ID: fmt.Sprintf("tok%06d", i), Account: strings.Repeat("a", rng.IntN(40)),
		Kind: uint8(1 + rng.IntN(2)), Owner: uint8(1 + rng.IntN(2)), Priv: uint8(rng.IntN(5)), PrivErr: uint8(rng.IntN(5)),
		UserOwned: rng.IntN(2) == 0, Revoked: rng.IntN(2) == 0, Unlocked: rng.IntN(2) == 0,
		Active: at(), Expires: at()}
	e.Hash[0], e.Hash[1], e.Hash[2] = byte(i), byte(i>>8), byte(i>>16)
	e.Hash[24], e.Hash[25], e.Hash[26] = byte(i), byte(i>>8), byte(i>>16) // distinct mapKeys
	if e.UserOwned || rng.IntN(2) == 0 {
		e.UserID = fmt.Sprintf("usr%03d", rng.IntN(50))
	}
	for j := range rng.IntN(5) {
		name := fmt.Sprintf("app-%d", j)
		if j == 3 || (j == 0 && rng.IntN(3) == 0) { // longer than appRecord.short: matched in the arena
			name = fmt.Sprintf("an-application-with-a-long-name-%d", j)
		}
		e.Apps = append(e.Apps, App{Name: name, State: uint8(1 + rng.IntN(3))})
	}
	return e
}

// wantView is the View Get must return of e for application app.
func wantView(e *Entry, app string) View {
	v := View{ID: e.ID, Account: e.Account, UserID: e.UserID, Kind: e.Kind, Owner: e.Owner, Priv: e.Priv,
		PrivErr: e.PrivErr, Revoked: e.Revoked, Unlocked: e.Unlocked, Active: e.Active, Expires: e.Expires,
		NApps: len(e.Apps), App: -1}
	for j, a := range e.Apps {
		if a.Name == app {
			v.App, v.AppState = j, a.State
			break
		}
	}
	return v
}

// sameView compares two views field by field, times by instant.
func sameView(a, b View) error {
	if !a.Active.Equal(b.Active) || !a.Expires.Equal(b.Expires) {
		return fmt.Errorf("times differ: %v %v vs %v %v", a.Active, a.Expires, b.Active, b.Expires)
	}
	a.Active, a.Expires, a.Ref = time.Time{}, time.Time{}, Ref{}
	b.Active, b.Expires, b.Ref = time.Time{}, time.Time{}, Ref{}
	if a != b {
		return fmt.Errorf("\n%+v\n%+v", a, b)
	}
	return nil
}

// Get must return every value Put was given, for every entry a slot can
// hold, and decline the rest (times outside int64 nanoseconds).
func TestGetReturnsWhatPutCached(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(7, 8))
	c := New(1_000_000, time.Second, time.Now, nil)
	type record struct {
		key hash
		e   *Entry
	}
	var cached []record
	declined := 0
	apps := []string{"app-0", "app-2", "an-application-with-a-long-name-0", "an-application-with-a-long-name-3", "an-application-with-a-long-name-4", "other", ""}
	check := func(r record, app string) {
		t.Helper()
		var got View
		if !c.Get(r.key, app, &got) {
			t.Fatalf("entry %s: cached but not found", r.e.ID)
		}
		if err := sameView(got, wantView(r.e, app)); err != nil {
			t.Fatalf("entry %s, app %q: %v", r.e.ID, app, err)
		}
	}
	for i := range 20_000 {
		e := randomEntry(rng, i)
		key := hash{0: byte(i), 1: byte(i >> 8), 2: byte(i >> 16), 24: byte(i), 25: byte(i >> 8), 26: byte(i >> 16), 31: 1}
		_, ok := c.Put(c.Generation(), key, e)
		_, ok1 := unixnanoOK(e.Active)
		_, ok2 := unixnanoOK(e.Expires)
		if ok != (ok1 && ok2) {
			t.Fatalf("entry %d (active %v, expires %v): cached %v", i, e.Active, e.Expires, ok)
		}
		if !ok {
			declined++
			continue
		}
		cached = append(cached, record{key, e})
		for _, app := range apps {
			check(cached[len(cached)-1], app)
		}
	}
	if declined == 0 || len(cached) < 10_000 {
		t.Fatalf("%d entries cached, %d declined", len(cached), declined)
	}
	// All of them at once: the index grew from 1,024 entries to 32,768
	// meanwhile, and earlier records must still be found and unchanged.
	for _, r := range cached {
		check(r, apps[0])
	}
}

// unixnanoOK reports whether t fits int64 Unix nanoseconds.
func unixnanoOK(t time.Time) (int64, bool) {
	if t.IsZero() {
		return 0, true
	}
	return t.UnixNano(), t.Year() > 1678 && t.Year() < 2262
}

// A user-owned entry stops serving once its user is invalidated, and so
// does a Put that read the store before an invalidation; entries of other
// users and account entries stay.
func TestInvalidationsRetireEntries(t *testing.T) {
	c := New(100, time.Second, time.Now, nil)
	exp := time.Now().Add(time.Hour)
	u1 := &Entry{Hash: hash{1, 31: 1}, ID: "t1", UserID: "u1", UserOwned: true, Expires: exp}
	u2 := &Entry{Hash: hash{2, 31: 2}, ID: "t2", UserID: "u2", UserOwned: true, Expires: exp}
	acct := &Entry{Hash: hash{3, 31: 3}, ID: "t3", UserID: "u1", Expires: exp} // not retired with u1
	keys := []hash{{31: 11}, {31: 12}, {31: 13}}
	for i, e := range []*Entry{u1, u2, acct} {
		if _, ok := c.Put(c.Generation(), keys[i], e); !ok {
			t.Fatalf("%s not cached", e.ID)
		}
	}
	var v View
	c.InvalidateUser("u1")
	if c.Get(keys[0], "", &v) {
		t.Fatal("a token of an invalidated user still served")
	}
	if !c.Get(keys[1], "", &v) || !c.Get(keys[2], "", &v) {
		t.Fatal("invalidating u1 dropped another user's or an account token")
	}
	gen := c.Generation()
	c.InvalidateToken(u2.Hash)
	if _, ok := c.Put(gen, keys[1], u2); ok {
		t.Fatal("a Put from before an invalidation cached its stale read")
	}
	if c.Get(keys[1], "", &v) {
		t.Fatal("an invalidated token still served")
	}
	c.SetFallback(true)
	if c.Get(keys[2], "", &v) {
		t.Fatal("entering fallback mode kept an entry")
	}
}

// Tokens whose keys or hashes share the 8 bytes the index and the map use
// (mapKey) cannot shadow each other: keys are compared whole, so both stay
// cached; a colliding store hash evicts the older token.
func TestPrefixCollisionsEvictRatherThanConfuse(t *testing.T) {
	c := New(100, time.Second, time.Now, func(string, time.Time, string) {})
	a := &Entry{ID: "a", Expires: time.Now().Add(time.Hour), Hash: hash{1, 24: 3}}
	b := &Entry{ID: "b", Expires: time.Now().Add(time.Hour), Hash: hash{9, 24: 3}}
	b2 := *b
	b2.ID, b2.Hash = "b2", hash{9, 24: 4}
	keyA, keyB := hash{1, 31: 5}, hash{2, 31: 5} // same mapKey
	var v View
	c.Put(c.Generation(), keyA, a)
	if c.Get(keyB, "", &v) {
		t.Fatal("a key that shares only the prefix found a slot")
	}
	c.Put(c.Generation(), keyB, &b2)
	if !c.Get(keyA, "", &v) || v.ID != "a" || !c.Get(keyB, "", &v) || v.ID != "b2" {
		t.Fatal("keys that share a prefix did not both stay cached")
	}
	c.Put(c.Generation(), keyB, b) // a's hash shares b's prefix
	if c.Get(keyA, "", &v) {
		t.Fatal("the older token still answers after a colliding put")
	}
	if !c.Get(keyB, "", &v) || v.ID != "b" {
		t.Fatalf("the newer token: %+v", v)
	}
	c.InvalidateToken(a.Hash) // same mapKey, different hash: must not drop b
	if !c.Get(keyB, "", &v) {
		t.Fatal("invalidating a colliding hash dropped another token")
	}
	c.InvalidateToken(b.Hash)
	if c.Get(keyB, "", &v) {
		t.Fatal("b still cached after its invalidation")
	}
}

// Strings handed out before compaction keep their bytes; compaction bounds
// the arena; pending usage of dropped slots is spilled, not lost.
func TestCompactionKeepsHandedOutStringsAndUsage(t *testing.T) {
	spilled := map[string]time.Time{}
	c := New(1000, time.Second, time.Now, func(id string, at time.Time, app string) { spilled[id+"/"+app] = at })
	rng := mrand.New(mrand.NewPCG(3, 4))
	var kept []string
	used := time.Unix(1_900_000_000, 0)
	for i := range 200_000 {
		tok := randomEntry(rng, i)
		tok.ID = fmt.Sprintf("%s-%s", tok.ID, strings.Repeat("x", 40))
		tok.Apps = []App{{Name: "app", State: 1}}
		tok.Active, tok.Expires = time.Time{}, used // times a slot holds
		key := hash{0: byte(i), 1: byte(i >> 8), 2: byte(i >> 16), 31: 3}
		ref, ok := c.Put(c.Generation(), key, tok)
		if !ok {
			continue
		}
		var v View
		if !c.Get(key, "app", &v) || !c.Touch(ref, v.App, used) {
			t.Fatalf("record %d not served", i)
		}
		if i%1000 == 0 {
			kept = append(kept, v.ID)
		}
		c.InvalidateToken(tok.Hash)
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
	c := New(4000, time.Second, time.Now, func(string, time.Time, string) {})
	for i := range 2000 {
		h := sha256.Sum256([]byte(fmt.Sprint(i)))
		copy(h[:6], []byte{0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00}) // one millisecond, as Hash.stamp writes it
		tok := &Entry{ID: fmt.Sprint(i), Expires: time.Now().Add(time.Hour), Hash: h}
		c.Put(c.Generation(), sha256.Sum256([]byte("key"+fmt.Sprint(i))), tok)
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

// A flush's Take must not keep writers (Put, invalidations) and with them
// every Get waiting while it hands uses to its caller: here add, called
// for the first use, waits until a Put, an invalidation and a Get have
// all completed, which they can only do if Take holds no lock while add
// runs. Every use is still taken exactly once, or spilled by the
// invalidation's drop.
func TestTakeLetsWritersAndReadersOnWhileAddRuns(t *testing.T) {
	spilled := map[string]bool{}
	var spillMu sync.Mutex
	c := New(10_000, time.Second, time.Now, func(id string, _ time.Time, _ string) {
		spillMu.Lock()
		spilled[id] = true
		spillMu.Unlock()
	})
	used := time.Unix(1_900_000_000, 0)
	key := func(i int) hash { return hash{0: byte(i), 1: byte(i >> 8), 31: 5} }
	entry := func(i int) *Entry {
		e := &Entry{ID: fmt.Sprintf("tok%06d", i), Account: "acme", Kind: 1, Owner: 1,
			Expires: used.Add(time.Hour), Apps: []App{{Name: "app", State: 1}}}
		e.Hash[0], e.Hash[1], e.Hash[24], e.Hash[25] = byte(i), byte(i>>8), byte(i), byte(i>>8)
		return e
	}
	const n = 3 * takeChunk // several chunks
	for i := range n {
		ref, ok := c.Put(c.Generation(), key(i), entry(i))
		if !ok || !c.Touch(ref, 0, used) {
			t.Fatalf("entry %d not cached", i)
		}
	}
	others := make(chan struct{})
	taken := map[string]int{}
	first := true
	c.Take(0, func(id string, at time.Time, app string) {
		if first {
			first = false
			go func() {
				defer close(others)
				if _, ok := c.Put(c.Generation(), key(n), entry(n)); !ok {
					t.Error("Put declined during Take")
				}
				c.InvalidateToken(entry(n - 1).Hash) // in a chunk Take has not read yet
				var v View
				if !c.Get(key(0), "app", &v) {
					t.Error("Get missed during Take")
				}
			}()
			<-others
		}
		if !at.Equal(used) || app != "app" {
			t.Errorf("use of %s: %v %q", id, at, app)
		}
		taken[id]++
	})
	<-others
	for i := range n {
		id := entry(i).ID
		if taken[id]+btoi(spilled[id]) != 1 {
			t.Errorf("%s: taken %d times, spilled %v", id, taken[id], spilled[id])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Take at a resolution hands over a slot's uses only when they are due:
// always for a token with no flushed use, else once the latest pending
// use is the slot's step past the flushed one, or is itself a step old
// (the token went quiet). A slot not due keeps its uses for a later
// Take, and a slot handed over counts its latest use as flushed.
func TestTakeAtAResolutionHandsOverOnlyDueSlots(t *testing.T) {
	const res = time.Minute
	flushed := time.Unix(1_900_000_000, 0)
	for _, tc := range []struct {
		name    string
		active  time.Time       // Entry.Active: the flushed last use
		uses    []time.Duration // after flushed, in order
		quiet   time.Duration   // from the latest use to the Take
		wantDue bool
	}{
		{"never used: the first use is due at once", time.Time{}, []time.Duration{time.Second}, 0, true},
		{"no pending use", flushed, nil, time.Hour, false},
		{"a use a second after the flushed one", flushed, []time.Duration{time.Second}, time.Second, false},
		{"uses spread within half the resolution", flushed, []time.Duration{time.Second, 10 * time.Second, res/2 - time.Nanosecond}, 0, false},
		{"a use a full resolution later", flushed, []time.Duration{res}, 0, true},
		{"a use after a quiet hour", flushed, []time.Duration{time.Hour}, 0, true},
		{"a use a second after the flushed one, then quiet for a resolution", flushed, []time.Duration{time.Second}, res, true},
		{"a use a second after the flushed one, then quiet for less than half", flushed, []time.Duration{time.Second}, res/2 - time.Nanosecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock time.Time
			c := New(10, time.Second, func() time.Time { return clock }, nil)
			e := &Entry{ID: "tok1", Account: "acme", Kind: 1, Owner: 1, Active: tc.active,
				Expires: flushed.Add(48 * time.Hour), Apps: []App{{Name: "app", State: 1}}}
			ref, ok := c.Put(c.Generation(), hash{1}, e)
			if !ok {
				t.Fatal("not cached")
			}
			for _, d := range tc.uses {
				if !c.Touch(ref, 0, flushed.Add(d)) {
					t.Fatal("touch refused")
				}
			}
			clock = flushed.Add(tc.quiet)
			if len(tc.uses) > 0 {
				clock = flushed.Add(tc.uses[len(tc.uses)-1] + tc.quiet)
			}
			var got []time.Time
			c.Take(res, func(_ string, at time.Time, _ string) { got = append(got, at) })
			if (len(got) == 1) != tc.wantDue || len(got) > 1 {
				t.Fatalf("Take at %v handed over %v, want due=%v", res, got, tc.wantDue)
			}
			var rest []time.Time
			c.Take(0, func(_ string, at time.Time, _ string) { rest = append(rest, at) })
			if want := len(tc.uses) > 0 && !tc.wantDue; (len(rest) == 1) != want || len(rest) > 1 {
				t.Fatalf("Take(0) after it handed over %v, want the kept use: %v", rest, want)
			}
			if len(tc.uses) == 0 {
				return
			}
			// Once handed over, the latest use is the flushed one: a use a
			// second later is not due.
			latest := flushed.Add(tc.uses[len(tc.uses)-1])
			var v View
			if !c.Get(hash{1}, "app", &v) || !v.Active.Equal(latest) {
				t.Fatalf("flushed use after Take: %v, want %v", v.Active, latest)
			}
			c.Touch(ref, 0, latest.Add(time.Second))
			clock = latest.Add(time.Second)
			c.Take(res, func(id string, at time.Time, _ string) {
				t.Errorf("%s at %v handed over a second after a flush", id, at)
			})
		})
	}
}

// Each slot's step lies in [resolution/2, resolution), spread by its key.
func TestStepsSpreadOverHalfTheResolution(t *testing.T) {
	const res = time.Minute
	lo, hi := int64(res), int64(0)
	for b := range 256 {
		s := step(hash{0: byte(b)}, res)
		if s < int64(res/2) || s >= int64(res) {
			t.Fatalf("key byte %d: step %v outside [%v, %v)", b, time.Duration(s), res/2, res)
		}
		lo, hi = min(lo, s), max(hi, s)
	}
	if hi-lo < int64(res/2)*9/10 {
		t.Fatalf("steps span %v..%v, want most of [%v, %v)", time.Duration(lo), time.Duration(hi), res/2, res)
	}
}
