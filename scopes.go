package apitoken

import (
	"fmt"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Bounds of the scope vocabulary (Options.Scopes).
const (
	// maxScopes is the most scope names a vocabulary may declare: a set
	// of scopes is a 64-bit mask, so the verification cache holds one in
	// eight bytes.
	maxScopes = 64
	// maxScopeName bounds one scope name in bytes.
	maxScopeName = 64
)

// scopeVocab is the host's scope vocabulary (Options.Scopes) compiled
// into bit masks: bit i is names[i]. role[p] is every scope privilege p
// holds, its own and those of the privileges below it, so role[a] is a
// subset of role[b] whenever a <= b.
type scopeVocab struct {
	names    []string // sorted
	index    map[string]uint8
	role     [Admin + 1]uint64
	roleList [Admin + 1][]string

	mu       sync.Mutex                 // serialises interning
	interned map[uint64]uint32          // mask -> index in table
	table    atomic.Pointer[[][]string] // copy on write: read without a lock; [0] is unused
}

// maxInterned bounds the distinct scope sets a Manager keeps a shared
// list of; beyond it (a host with many scopes and tokens naming every
// combination) a list is built per verification.
const maxInterned = 1 << 12

// validScopeName reports whether s may be a scope name: 1 to maxScopeName
// bytes of ASCII letters, digits and ":._-/".
func validScopeName(s string) bool {
	if s == "" || len(s) > maxScopeName {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(":._-/", c) >= 0) {
			return false
		}
	}
	return true
}

// newScopeVocab compiles Options.Scopes. Keys must be valid privileges,
// names valid and at most maxScopes distinct in all.
func newScopeVocab(byRole map[Privilege][]string) (*scopeVocab, error) {
	v := &scopeVocab{index: map[string]uint8{}}
	seen := map[string]bool{}
	for p, names := range byRole {
		if !p.Valid() {
			return nil, fmt.Errorf("%w: Scopes names privilege %d, which is not read-only, normal or admin", ErrInvalidArgument, uint8(p))
		}
		for _, n := range names {
			if !validScopeName(n) {
				return nil, fmt.Errorf("%w: scope name %q must be 1 to %d bytes of letters, digits and \":._-/\"", ErrInvalidArgument, truncateForError([]byte(n)), maxScopeName)
			}
			if !seen[n] {
				seen[n] = true
				v.names = append(v.names, n)
			}
		}
	}
	if len(v.names) > maxScopes {
		return nil, fmt.Errorf("%w: %d scope names; at most %d", ErrInvalidArgument, len(v.names), maxScopes)
	}
	sort.Strings(v.names)
	for i, n := range v.names {
		v.index[n] = uint8(i)
	}
	for p := ReadOnly; p <= Admin; p++ {
		v.role[p] = v.role[p-1]
		for _, n := range byRole[p] {
			v.role[p] |= 1 << v.index[n]
		}
		v.roleList[p] = v.build(v.role[p])
	}
	v.interned = map[uint64]uint32{}
	v.table.Store(&[][]string{nil})
	return v, nil
}

// build returns the names of mask, in vocabulary order; nil for none.
func (v *scopeVocab) build(mask uint64) []string {
	if mask == 0 {
		return nil
	}
	out := make([]string, 0, bits.OnesCount64(mask))
	for mask != 0 {
		i := bits.TrailingZeros64(mask)
		out = append(out, v.names[i])
		mask &^= 1 << i
	}
	return out
}

// list returns the names of mask as a slice shared by every caller (read
// only): a role's own list, or one built once per distinct mask. The
// masks a Manager meets are bounded by the tokens it verifies; in
// practice a handful.
func (v *scopeVocab) list(mask uint64) []string {
	if mask == 0 {
		return nil
	}
	for p := Admin; p >= ReadOnly; p-- {
		if v.role[p] == mask {
			return v.roleList[p]
		}
	}
	if i := v.intern(mask); i != 0 {
		return v.byIndex(i)
	}
	return v.build(mask)
}

// intern returns the index of mask's shared list, adding it if needed, or
// 0 once maxInterned sets are held. The verification cache keeps the
// index, so a hit finds the list without a map lookup.
func (v *scopeVocab) intern(mask uint64) uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if i, ok := v.interned[mask]; ok {
		return i
	}
	old := *v.table.Load()
	if len(old) > maxInterned {
		return 0
	}
	next := append(old[:len(old):len(old)], v.build(mask)) // a copy: readers keep the old
	i := uint32(len(old))
	v.interned[mask] = i
	v.table.Store(&next)
	return i
}

// ref is intern for a set no role has (0 for a role's own set, whose
// list needs no lookup).
func (v *scopeVocab) ref(mask uint64) uint32 {
	if mask == 0 {
		return 0
	}
	for p := ReadOnly; p <= Admin; p++ {
		if v.role[p] == mask {
			return 0
		}
	}
	return v.intern(mask)
}

// byIndex returns the shared list with index i (from intern).
func (v *scopeVocab) byIndex(i uint32) []string { return (*v.table.Load())[i] }

// mask returns the set of names; an unknown name is ErrInvalidArgument.
func (v *scopeVocab) mask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		i, ok := v.index[n]
		if !ok {
			if len(v.names) == 0 {
				return 0, fmt.Errorf("%w: unknown scope %q: this service declares no scopes", ErrInvalidArgument, truncateForError([]byte(n)))
			}
			return 0, fmt.Errorf("%w: unknown scope %q (known: %s)", ErrInvalidArgument, truncateForError([]byte(n)), strings.Join(v.names, ", "))
		}
		m |= 1 << i
	}
	return m, nil
}

// known returns the set of the names the vocabulary knows, ignoring
// others: a stored token may name a scope the host has since removed,
// which then grants nothing.
func (v *scopeVocab) known(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if i, ok := v.index[n]; ok {
			m |= 1 << i
		}
	}
	return m
}

// declared is the set of scopes token t carries for its own privilege:
// its Scopes within what its privilege holds, or, for a token without
// scopes, all its privilege holds.
func (v *scopeVocab) declared(t *Token) uint64 {
	if !t.Privilege.Valid() {
		return 0
	}
	if len(t.Scopes) == 0 {
		return v.role[t.Privilege]
	}
	return v.known(t.Scopes) & v.role[t.Privilege]
}

// effective is the set of scopes t grants at effective privilege priv:
// its declared scopes capped by what priv holds.
func (v *scopeVocab) effective(t *Token, priv Privilege) uint64 {
	if !priv.Valid() {
		return 0
	}
	return v.declared(t) & v.role[priv]
}

// scoped reports whether t carries a set of scopes narrower than its
// privilege's (the verification cache keeps such a set apart).
func (v *scopeVocab) scoped(t *Token, priv Privilege) bool {
	return priv.Valid() && v.effective(t, priv) != v.role[priv]
}

// newTokenScopes decides the Scopes of a token of privilege p that a
// holder of the scopes holds issues, from the request's names req: named
// scopes must be known, within p's and held; with none named the token
// gets every scope p holds (nil: unscoped) if the holder holds them all,
// else the ones it holds.
func (v *scopeVocab) newTokenScopes(req []string, p Privilege, holds uint64) ([]string, error) {
	if len(req) == 0 {
		want := v.role[p]
		if want&^holds == 0 {
			return nil, nil
		}
		if want&holds == 0 {
			return nil, fmt.Errorf("%w: the caller holds none of the scopes of privilege %v; name the scopes", ErrInsufficientPrivilege, p)
		}
		return v.build(want & holds), nil
	}
	m, err := v.mask(req)
	if err != nil {
		return nil, err
	}
	if extra := m &^ v.role[p]; extra != 0 {
		return nil, fmt.Errorf("%w: scope %q is beyond privilege %v", ErrInvalidArgument, v.names[bits.TrailingZeros64(extra)], p)
	}
	if err := v.holds(holds, m); err != nil {
		return nil, err
	}
	return v.build(m), nil
}

// holds refuses a grant of the scopes want beyond the scopes held.
func (v *scopeVocab) holds(held, want uint64) error {
	if extra := want &^ held; extra != 0 {
		return fmt.Errorf("%w: the caller does not hold scope %q", ErrInsufficientPrivilege, v.names[bits.TrailingZeros64(extra)])
	}
	return nil
}

// HasScope reports whether p holds scope s among its effective scopes.
func (p Principal) HasScope(s string) bool { return slices.Contains(p.Scopes, s) }
