package login

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

// The rules of seals under a keyring: which seal opens under which keys,
// which is stale, and what sealing again gives.
func TestSealsUnderAKeyring(t *testing.T) {
	k := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	legacy := newSealer(0, map[uint32][]byte{0: k(0)})
	one := newSealer(1, map[uint32][]byte{0: k(0), 1: k(1)})
	two := newSealer(2, map[uint32][]byte{0: k(0), 1: k(1), 2: k(2)})
	onlyTwo := newSealer(2, map[uint32][]byte{2: k(2)})
	none := newSealer(0, nil)
	secret := []byte("12345678901234567890")
	seal := func(s *sealer) []byte {
		t.Helper()
		b, err := s.seal(secret, "u1", rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v1, v2k1, v2k2 := seal(legacy), seal(one), seal(two)
	if v1[0] != sealVersion || v2k1[0] != sealVersionID || v2k2[0] != sealVersionID {
		t.Fatalf("seal versions %d %d %d", v1[0], v2k1[0], v2k2[0])
	}
	// Without a key, a seal is told from a secret stored as it is by its
	// length as well as its head.
	for _, c := range []struct {
		stored []byte
		sealed bool
	}{{v1, true}, {v2k1, true}, {secret, false}, {append([]byte{sealVersion}, secret[1:]...), false}, {v2k1[:len(v2k1)-1], false}} {
		if _, ok := looksSealed(c.stored); ok != c.sealed {
			t.Errorf("looksSealed(% x...) = %v, want %v", c.stored[:5], ok, c.sealed)
		}
	}
	for _, c := range []struct {
		name   string
		s      *sealer
		stored []byte
		opens  bool
		stale  bool
		says   string // part of the error when it does not open
	}{
		{"HashKey's seal under HashKey", legacy, v1, true, false, ""},
		{"HashKey's seal beside a ring", two, v1, true, true, ""},
		{"key 1's seal with key 2 current", two, v2k1, true, true, ""},
		{"key 2's seal with key 2 current", two, v2k2, true, false, ""},
		{"key 2's seal once the others are dropped", onlyTwo, v2k2, true, false, ""},
		{"key 1's seal once key 1 is dropped", onlyTwo, v2k1, false, true, "hash key 1"},
		{"HashKey's seal once HashKey is dropped", onlyTwo, v1, false, true, "hash key 0"},
		{"key 2's seal before key 2 is known", one, v2k2, false, true, "hash key 2"},
		{"a seal naming key 0 in version 2", two, append([]byte{sealVersionID, 0, 0, 0, 0}, v2k2[5:]...), false, false, ""},
		{"key 1's seal relabelled as key 2's", two, append([]byte{sealVersionID, 0, 0, 0, 2}, v2k1[5:]...), false, false, ""},
		{"a truncated seal", two, v2k2[:10], false, false, ""},
		{"an unknown version", two, append([]byte{3}, v2k2[1:]...), false, false, ""},
		{"no key: stored as it is", none, secret, true, false, ""},
		{"HashKey's seal once every key is dropped", none, v1, false, true, "hash key 0"},
		{"key 1's seal once every key is dropped", none, v2k1, false, true, "hash key 1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.open(c.stored, "u1")
			if c.opens != (err == nil) || (c.opens && !bytes.Equal(got, secret)) {
				t.Fatalf("open = %q, %v; want it to open: %v", got, err, c.opens)
			}
			if err != nil && (!errors.Is(err, errUnseal) || !strings.Contains(err.Error(), c.says)) {
				t.Fatalf("open error %v, want errUnseal saying %q", err, c.says)
			}
			if st := c.s.stale(c.stored); st != c.stale {
				t.Fatalf("stale = %v, want %v", st, c.stale)
			}
			if !c.opens || !c.stale {
				return
			}
			again, err := c.s.reseal(c.stored, "u1", rand.Reader)
			if err != nil || c.s.stale(again) {
				t.Fatalf("reseal: %v, stale afterwards: %v", err, c.s.stale(again))
			}
			if got, err := c.s.open(again, "u1"); err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("the resealed secret opens to %q, %v", got, err)
			}
			if _, err := c.s.open(again, "u2"); err == nil {
				t.Fatal("the resealed secret opens for another user")
			}
		})
	}
}
