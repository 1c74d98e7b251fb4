package cache

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// BenchmarkGCCache is one full collection with 1,000,000 tokens cached,
// next to one with a pointer-free map of the same count (32-byte keys,
// 128-byte values) live instead; the first also reports the cache's heap
// per token. Nothing else large is live in either, so
// the ratio is the cache layout's own cost to the collector. Each fixture is
// dropped before the other is built.
func BenchmarkGCCache(b *testing.B) {
	const n = 1_000_000
	b.Run("cache-1M", func(b *testing.B) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(n, time.Second, time.Now, func(string, time.Time, string) {})
		now := time.Now()
		for i := range n {
			var key, h hash // distinct in their last 8 bytes, which mapKey reads
			binary.LittleEndian.PutUint64(key[24:], uint64(i)*0x9e3779b97f4a7c15)
			binary.LittleEndian.PutUint64(h[24:], uint64(i)*0xc2b2ae3d27d4eb4f)
			id := string(binary.AppendUvarint([]byte("tok0000000000"), uint64(i)))
			t := &Entry{ID: id, Hash: h, Kind: 2, Owner: 2, Account: "acme", Priv: 2,
				Active: now, Expires: now.Add(time.Hour), Apps: []App{{Name: "default", State: 1}}}
			if _, ok := c.Put(c.Generation(), key, t); !ok {
				b.Fatal("not cached")
			}
		}
		if c.byKey.n != n || len(c.byHash) != n {
			b.Fatalf("%d tokens indexed by key and %d by hash, want %d", c.byKey.n, len(c.byHash), n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for b.Loop() {
			runtime.GC()
		}
		// The cache's whole heap (slots, index, maps, arena, records) per
		// token: what a cached token costs in memory.
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/token")
		runtime.KeepAlive(c)
	})
	runtime.GC()
	b.Run("pointer-free-map-1M", func(b *testing.B) {
		m := make(map[[32]byte][128]byte, n)
		for i := range n {
			var k [32]byte
			binary.LittleEndian.PutUint64(k[:], uint64(i))
			m[k] = [128]byte{}
		}
		runtime.GC()
		for b.Loop() {
			runtime.GC()
		}
		runtime.KeepAlive(m)
	})
}

// BenchmarkLastUsedTouch is what last-used tracking adds to a verification
// of a cached API token: Cache.Touch, a read lock and one compare-and-swap
// on the application's record (no map, no allocation, no system call).
// "-parallel" runs it from every P on one hot token, the contended case.
func BenchmarkLastUsedTouch(b *testing.B) {
	c := New(10, time.Second, time.Now, func(string, time.Time, string) {})
	now := time.Now()
	t := &Entry{ID: "tok0000000000001", Kind: 2, Owner: 2, Account: "acme", Priv: 2,
		Active: now, Expires: now.Add(time.Hour), Apps: []App{{Name: "default", State: 1}}}
	ref, ok := c.Put(c.Generation(), hash{1}, t)
	if !ok {
		b.Fatal("not cached")
	}
	touched := false // -bench may select neither of the next two
	b.Run("serial", func(b *testing.B) {
		touched = true
		b.ReportAllocs()
		at := now
		for b.Loop() {
			at = at.Add(time.Nanosecond)
			if !c.Touch(ref, 0, at) {
				b.Fatal("slot gone")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		touched = true
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			at := now
			for pb.Next() {
				at = at.Add(time.Nanosecond)
				if !c.Touch(ref, 0, at) {
					b.Error("slot gone")
					return
				}
			}
		})
	})
	var got []string
	c.Take(0, func(id string, _ time.Time, app string) { got = append(got, id+"/"+app) })
	if touched && (len(got) != 1 || got[0] != t.ID+"/default") {
		b.Fatalf("take after the touches: %v", got)
	}
}
