package tokenhash

import (
	"crypto/sha256"
	"encoding"
)

// BlockLen is the length in bytes of the blocks a Permutation permutes.
const BlockLen = 26

// half is the length of a Feistel half.
const half = BlockLen / 2

// rounds is the number of Feistel rounds: four make a strong
// pseudorandom permutation of pseudorandom round functions (Luby and
// Rackoff).
const rounds = 4

// PermutationLabel is the message whose HMAC under a hash key is the
// key of that hash key's Permutation. It holds spaces, so no token string
// equals it.
const PermutationLabel = "apitoken hash permutation v1"

// Permutation is a keyed pseudorandom permutation of BlockLen-byte blocks:
// a 4-round balanced Feistel network whose round function is HMAC-SHA256,
// under a key derived from the hash key, of the round number and the right
// half, cut to the half's length. Unlike an HMAC it can be undone by
// whoever holds the key, so a stored value can be moved from one key to
// another without the input it came from: Inverse under the old key, then
// Forward under the new.
//
// A round costs two SHA-256 blocks from saved key states (no allocation);
// Forward and Inverse cost 8.
type Permutation struct{ mac *Hasher }

// NewPermutation returns the permutation of hash key key (at least 1 byte).
func NewPermutation(key []byte) *Permutation {
	k := New(key).Sum(PermutationLabel)
	p := &Permutation{mac: New(k[:])}
	clear(k[:])
	return p
}

// Forward permutes b in place.
func (p *Permutation) Forward(b *[BlockLen]byte) {
	l, r := (*[half]byte)(b[:half]), (*[half]byte)(b[half:])
	for i := range rounds {
		p.round(byte(i), r, l) // l ^= F(i, r)
		l, r = r, l
	}
	// After an even number of swaps l and r are back to their places.
}

// Inverse undoes Forward in place.
func (p *Permutation) Inverse(b *[BlockLen]byte) {
	l, r := (*[half]byte)(b[:half]), (*[half]byte)(b[half:])
	for i := rounds - 1; i >= 0; i-- {
		l, r = r, l
		p.round(byte(i), r, l)
	}
}

// round xors F(i, in) into out.
func (p *Permutation) round(i byte, in, out *[half]byte) {
	var msg [1 + half]byte
	msg[0] = i
	copy(msg[1:], in[:])
	f := p.mac.sumBlock(&msg)
	for j := range out {
		out[j] ^= f[j]
	}
}

// sumBlock is Sum of a round's message, kept apart so that the message
// stays on the caller's stack.
func (h *Hasher) sumBlock(msg *[1 + half]byte) [sha256.Size]byte {
	if stdlib {
		return h.stdSum(append([]byte(nil), msg[:]...)) // a copy: msg stays on the stack
	}
	d := sha256.New()
	if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.inner); err != nil {
		panic(errResume)
	}
	d.Write(msg[:])
	var out [sha256.Size]byte
	d.Sum(out[:0])
	if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.outer); err != nil {
		panic(errResume)
	}
	d.Write(out[:])
	d.Sum(out[:0])
	return out
}
