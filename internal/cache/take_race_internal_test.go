package cache

// Take at a resolution under concurrent use: run with -race.

import (
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// no use is lost between concurrent Touch, Take at a resolution
// and at 0 (due() against the swaps), Put replacing a slot with an older
// Active (a re-cache after an invalidation), evictions and
// invalidations (the spill path after Take advanced slot.active). Every
// use Touch accepted reaches add or spill; a refused one is the caller's.
func TestTakeLosesNoUseUnderRaces(t *testing.T) {
	const keys, res = 6, 64 // res in nanoseconds of the fake time
	var (
		mu      sync.Mutex
		touched = map[string]int64{} // id /app -> latest accepted use
		got     = map[string]int64{} // id/app -> latest handed over or spilled
	)
	keep := func(m map[string]int64, id string, ns int64) {
		mu.Lock()
		if ns > m[id] {
			m[id] = ns
		}
		mu.Unlock()
	}
	handed := func(id string, at time.Time, app string) { keep(got, id+"/"+app, at.UnixNano()) }
	c := New(keys-2, time.Second, time.Now, func(id string, at time.Time, app string) { handed(id, at, app) })
	entry := func(k int, active int64) *Entry {
		var at time.Time // zero: never used
		if active > 0 {
			at = time.Unix(0, active)
		}
		return &Entry{Hash: hash{0: byte(k), 31: byte(k)}, ID: string(rune('a' + k)), Account: "acme", Kind: 1, Owner: 1,
			Active: at, Expires: time.Unix(0, 1<<62), Apps: []App{{"x", 1}, {"y", 1}}}
	}
	key := func(k int) hash { return hash{0: byte(k * 37), 1: byte(k), 31: byte(k)} }
	var clock atomic.Int64
	clock.Store(1)
	for k := range keys {
		c.Put(c.Generation(), key(k), entry(k, 0))
	}
	var stop atomic.Bool
	var workers, churn sync.WaitGroup
	for w := range 4 {
		workers.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), 7))
			for range 20000 {
				k := r.IntN(keys)
				var v View
				ns := clock.Add(int64(r.IntN(40)))
				app := []string{"x", "y"}[r.IntN(2)]
				id := string(rune('a'+k)) + "/" + app
				if !c.Get(key(k), app, &v) || v.App < 0 {
					continue
				}
				if c.Touch(v.Ref, v.App, time.Unix(0, ns)) {
					keep(touched, id, ns)
				}
			}
		})
	}
	churn.Go(func() {
		r := mrand.New(mrand.NewPCG(99, 7))
		for !stop.Load() {
			switch r.IntN(4) {
			case 0:
				c.Take(0, handed)
			case 1:
				c.Take(res, handed)
			case 2:
				k := r.IntN(keys)
				// Active as the store might have it: older than what Take
				// advanced the slot to, or zero.
				c.Put(c.Generation(), key(k), entry(k, clock.Load()-int64(r.IntN(3))*res))
			case 3:
				c.InvalidateToken(hash{0: byte(r.IntN(keys)), 31: byte(r.IntN(keys))})
			}
		}
	})
	churn.Go(func() {
		for !stop.Load() {
			c.Take(res, handed)
		}
	})
	workers.Wait()
	stop.Store(true)
	churn.Wait()
	c.Take(0, handed)
	if len(touched) < keys/2 {
		t.Fatalf("only %d tokens touched", len(touched))
	}
	for id, ns := range touched {
		if got[id] < ns {
			t.Errorf("token %s: latest use %d, handed over or spilled %d: lost", id, ns, got[id])
		}
	}
}

// for huge resolutions the product in step wraps, but the wrapped
// part is below 2^56 ns (< resolution/2 there), so steps stay within
// [resolution/2, resolution); only their spread is lost.
func TestStepStaysInRangeForHugeResolutions(t *testing.T) {
	for _, res := range []time.Duration{5 * 365 * 24 * time.Hour, time.Duration(1<<63 - 1)} {
		for b := range 256 {
			if s := step(hash{0: byte(b)}, res); s < int64(res/2) || s >= int64(res) {
				t.Fatalf("resolution %v, key byte %d: step %v outside [%v, %v)", res, b, time.Duration(s), res/2, res)
			}
		}
	}
}
