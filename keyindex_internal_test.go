package apitoken

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
