package cache

import (
	"encoding/binary"
	mrand "math/rand/v2"
	"testing"
)

// The index must agree with a map after any sequence of adds and removes,
// including long probe runs that wrap around the table's end and keys
// that share all 32 bits an entry keeps.
func TestKeyIndexAgreesWithAMap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		homes uint32 // distinct low 32 bits of mapKey the keys draw from
		keys  int
	}{
		{"spread", 1 << 31, 5000},
		{"clustered at the end", 4, 600}, // homes 0..3 and, below, the last positions
		{"one home", 1, 300},             // every key collides in all 32 bits
		{"growing past the minimum", 1 << 20, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := mrand.New(mrand.NewPCG(1, uint64(tc.keys)))
			var x keyIndex
			slots := make([]slot, tc.keys)
			for i := range slots {
				low := rng.Uint32N(tc.homes)
				if tc.homes == 4 && i%2 == 0 {
					low = minIndexSize - 1 - low // the table's last positions: runs wrap
				}
				binary.LittleEndian.PutUint32(slots[i].key[24:], low)
				binary.LittleEndian.PutUint64(slots[i].key[:8], uint64(i)) // keys differ whole
			}
			in := map[uint32]bool{}
			check := func(step int) {
				t.Helper()
				if x.n != len(in) {
					t.Fatalf("step %d: index counts %d, want %d", step, x.n, len(in))
				}
				for i := range slots {
					got, ok := x.find(slots[i].key, slots)
					if ok != in[uint32(i)] || (ok && got != uint32(i)) {
						t.Fatalf("step %d: find(key %d) = %d, %v; indexed: %v", step, i, got, ok, in[uint32(i)])
					}
				}
			}
			for step := range 3 * tc.keys {
				i := uint32(rng.IntN(tc.keys))
				if in[i] {
					x.remove(slots[i].key, i)
					delete(in, i)
				} else {
					x.add(slots[i].key, i, slots)
					in[i] = true
				}
				if step%(tc.keys/50+1) == 0 {
					check(step)
				}
			}
			check(-1)
			x.remove(slots[0].key, 1<<30) // not indexed: no change
			check(-2)
		})
	}
}

// The README and keyIndex's comment say that at three quarters full (the
// most the table gets) 86% of hits find their entry in the 64-byte line
// of their home position. This measures it with random keys and holds it
// above 80%.
func TestKeyIndexHitsMostlyStayInTheirFirstLine(t *testing.T) {
	const n = 3 << 18 // 786,432 entries: exactly 3/4 of a 2^20 table
	rng := mrand.New(mrand.NewPCG(5, 6))
	slots := make([]slot, n)
	var x keyIndex
	for i := range slots {
		binary.LittleEndian.PutUint64(slots[i].key[24:], rng.Uint64())
		binary.LittleEndian.PutUint64(slots[i].key[:8], uint64(i))
		x.add(slots[i].key, uint32(i), slots)
	}
	if load := float64(x.n) / float64(len(x.entries)); load != 0.75 {
		t.Fatalf("load %.3f, want the maximum, 0.75", load)
	}
	const perLine = 64 / 8
	mask, first := len(x.entries)-1, 0
	for i := range slots {
		home, _ := x.home(slots[i].key)
		pos := home
		for uint32(x.entries[pos])-1 != uint32(i) {
			pos = (pos + 1) & mask
		}
		if pos/perLine == home/perLine {
			first++
		}
	}
	share := float64(first) / n
	t.Logf("%.1f%% of hits in the first line at load 0.75", 100*share)
	if share < 0.80 {
		t.Fatalf("only %.1f%% of hits in their first line", 100*share)
	}
}
