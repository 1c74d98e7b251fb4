package tokenhash

import (
	"bytes"
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// withStdlib runs f with the crypto/hmac path selected, as under FIPS 140
// mode.
func withStdlib(t testing.TB, on bool, f func()) {
	old := stdlib
	stdlib = on
	defer func() { stdlib = old }()
	f()
}

func TestSumEqualsCryptoHMACOnBothPaths(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	long := bytes.Repeat([]byte{9}, 100)
	for _, k := range [][]byte{key, long} {
		for _, tok := range []string{"", "ak_abc", string(bytes.Repeat([]byte("x"), 200))} {
			mac := hmac.New(sha256.New, k)
			mac.Write([]byte(tok))
			want := mac.Sum(nil)
			for _, std := range []bool{false, true} {
				withStdlib(t, std, func() {
					got := New(k).Sum(tok)
					if !bytes.Equal(got[:], want) {
						t.Errorf("stdlib=%v key %d bytes token %d bytes: sum differs from crypto/hmac", std, len(k), len(tok))
					}
				})
			}
		}
	}
}

func TestPermutationInvertsAndBothPathsAgree(t *testing.T) {
	p1 := NewPermutation(bytes.Repeat([]byte{1}, 32))
	p2 := NewPermutation(bytes.Repeat([]byte{2}, 32))
	for n := range 200 {
		var in [BlockLen]byte
		d := sha256.Sum256([]byte{byte(n), byte(n >> 8)})
		copy(in[:], d[:])
		a := in
		p1.Forward(&a)
		if a == in {
			t.Fatalf("block %d: Forward left it unchanged", n)
		}
		var std [BlockLen]byte = in
		withStdlib(t, true, func() { NewPermutation(bytes.Repeat([]byte{1}, 32)).Forward(&std) })
		if std != a {
			t.Fatalf("block %d: crypto/hmac round functions give another permutation", n)
		}
		b := in
		p2.Forward(&b)
		if a == b {
			t.Fatalf("block %d: two keys give the same output", n)
		}
		p1.Inverse(&a)
		if a != in {
			t.Fatalf("block %d: Inverse did not undo Forward", n)
		}
		// Moving from key 1 to key 2 without the input.
		c := in
		p1.Forward(&c)
		p1.Inverse(&c)
		p2.Forward(&c)
		if c != b {
			t.Fatalf("block %d: re-keying differs from hashing under the new key", n)
		}
	}
}

func TestPermutationRoundFunctionIsHMACOfDerivedKey(t *testing.T) {
	key := bytes.Repeat([]byte{3}, 32)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(PermutationLabel))
	rk := mac.Sum(nil)
	// A reference Feistel built on crypto/hmac only.
	var b [BlockLen]byte
	for i := range b {
		b[i] = byte(i)
	}
	want := b
	l, r := append([]byte(nil), want[:half]...), append([]byte(nil), want[half:]...)
	for i := range rounds {
		m := hmac.New(sha256.New, rk)
		m.Write(append([]byte{byte(i)}, r...))
		f := m.Sum(nil)
		nl := r
		nr := make([]byte, half)
		for j := range nr {
			nr[j] = l[j] ^ f[j]
		}
		l, r = nl, nr
	}
	copy(want[:half], l)
	copy(want[half:], r)
	NewPermutation(key).Forward(&b)
	if b != want {
		t.Fatalf("Forward = %x, want the reference Feistel network's %x", b, want)
	}
}

// Outside FIPS 140 mode (where crypto/hmac allocates) neither a sum nor
// the permutation allocates.
func TestPermutationDoesNotAllocate(t *testing.T) {
	withStdlib(t, false, func() {
		p := NewPermutation(bytes.Repeat([]byte{1}, 32))
		var b [BlockLen]byte
		if n := testing.AllocsPerRun(100, func() { p.Forward(&b); p.Inverse(&b) }); n != 0 {
			t.Fatalf("%v allocations per Forward and Inverse", n)
		}
		h := New(bytes.Repeat([]byte{1}, 32))
		if n := testing.AllocsPerRun(100, func() { h.Sum("ak_token") }); n != 0 {
			t.Fatalf("%v allocations per Sum", n)
		}
	})
}

// Under FIPS 140 mode (GODEBUG=fips140=on) the crypto/hmac path is the
// one taken.
func TestFIPSModeSelectsCryptoHMAC(t *testing.T) {
	if stdlib != fips140.Enabled() {
		t.Fatalf("crypto/hmac selected: %v; FIPS 140 mode: %v", stdlib, fips140.Enabled())
	}
}

func BenchmarkSum(b *testing.B) {
	h := New(bytes.Repeat([]byte{1}, 32))
	tok := "ak_01JD3V9X2Q7ZK4M8N6P5R3T1W0_abcdefghijklmnopqrstuvwx_1a2b3c"
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(tok)
	}
}

// BenchmarkPermutedSum is the keyring's stored form: SHA-256 of the
// token, then the permutation of 26 of its bytes.
func BenchmarkPermutedSum(b *testing.B) {
	p := NewPermutation(bytes.Repeat([]byte{1}, 32))
	h := New(nil)
	tok := "ak_01JD3V9X2Q7ZK4M8N6P5R3T1W0_abcdefghijklmnopqrstuvwx_1a2b3c"
	b.ReportAllocs()
	for b.Loop() {
		d := h.Sum(tok)
		p.Forward((*[BlockLen]byte)(d[6:]))
	}
}
