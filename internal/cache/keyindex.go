package cache

// keyIndex finds a cache slot by its cache key: an open-addressed table
// with linear probing, 8 bytes an entry, no pointers.
//
// It exists for the cache hit's memory reads. A Go map of a million
// entries costs a hit two or three dependent cache misses (its directory,
// a group's control word, the group's slot); here a hit usually costs
// one: the table is at most three quarters full, and then 86% of hits
// find their entry in the 64-byte line they start in (measured with
// random keys; more when the table is emptier).
//
// An entry is the low 32 bits of the key's mapKey, then the slot index
// plus one; zero is empty. The low bits give the entry's home position,
// so deletion can shift later entries back without reading their slots;
// the bits above the table's size filter probes, and a probe whose bits
// match compares the slot's whole key. Keys are SHA-256 sums, so their
// bits need no mixing and cannot be chosen to collide.
type keyIndex struct {
	entries []uint64
	n       int // entries in use
}

const minIndexSize = 1 << 10

// home returns key's first probe position and its entry bits above the
// slot index.
func (x *keyIndex) home(key hash) (pos int, bits uint64) {
	h := uint32(mapKey(key))
	return int(h) & (len(x.entries) - 1), uint64(h) << 32
}

// find returns the slot whose key is key.
func (x *keyIndex) find(key hash, slots []slot) (uint32, bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := len(x.entries) - 1
	pos, bits := x.home(key)
	for {
		e := x.entries[pos]
		if e == 0 {
			return 0, false
		}
		if e&^(1<<32-1) == bits {
			if i := uint32(e) - 1; slots[i].key == key {
				return i, true
			}
		}
		pos = (pos + 1) & mask
	}
}

// add indexes slot i under key, which must not be indexed already.
func (x *keyIndex) add(key hash, i uint32, slots []slot) {
	if (x.n+1)*4 > len(x.entries)*3 {
		x.grow(slots)
	}
	x.place(key, i)
	x.n++
}

func (x *keyIndex) place(key hash, i uint32) {
	mask := len(x.entries) - 1
	pos, bits := x.home(key)
	for x.entries[pos] != 0 {
		pos = (pos + 1) & mask
	}
	x.entries[pos] = bits | uint64(i+1)
}

// grow doubles the table (or makes the first) and re-places every entry.
func (x *keyIndex) grow(slots []slot) {
	old := x.entries
	x.entries = make([]uint64, max(minIndexSize, 2*len(old)))
	for _, e := range old {
		if e != 0 {
			i := uint32(e) - 1
			x.place(slots[i].key, i)
		}
	}
}

// remove drops slot i's entry under key, if it has one, and moves later
// entries of the probe run back so that no lookup stops short of them.
func (x *keyIndex) remove(key hash, i uint32) {
	if x.n == 0 {
		return
	}
	mask := len(x.entries) - 1
	pos, bits := x.home(key)
	want := bits | uint64(i+1)
	for x.entries[pos] != want {
		if x.entries[pos] == 0 {
			return
		}
		pos = (pos + 1) & mask
	}
	x.n--
	for hole, j := pos, pos; ; {
		x.entries[hole] = 0
		for {
			j = (j + 1) & mask
			e := x.entries[j]
			if e == 0 {
				return
			}
			// e may fill the hole if its home is not after the hole on
			// the way to j.
			if home := int(e>>32) & mask; (j-home)&mask >= (j-hole)&mask {
				x.entries[hole] = e
				hole = j
				break
			}
		}
	}
}

// reset empties the index.
func (x *keyIndex) reset() { *x = keyIndex{} }
