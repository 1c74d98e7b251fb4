// Package tokenhash computes the hashes stores keep in place of token
// secrets: HMAC-SHA256 under the host's key, resuming from saved key
// states so that a sum costs 3 SHA-256 blocks instead of 5 and does not
// allocate, or plain SHA-256 without a key.
package tokenhash

import (
	"crypto/fips140"
	"crypto/hmac"
	"crypto/sha256"
	"encoding"
	"unsafe"
)

// stdlib selects crypto/hmac over the saved key states: set under Go's
// FIPS 140 mode, where the keyed hash must come from the validated module
// (tests set it to compare both paths).
var stdlib = fips140.Enabled()

// Hasher computes token hashes. With a key it computes HMAC-SHA256, so a
// stolen database cannot even be used to test guessed tokens without the key
// too. Without a key it computes plain SHA-256: still no secret at rest
// (token bodies have 128+ bits of entropy, so a hash cannot be reversed), but
// anyone holding the database can confirm a token they already have.
//
// HMAC hashes one block of key^ipad before the message and one of key^opad
// before the inner sum. Those blocks never change, so New hashes them
// once and keeps SHA-256's state after each (its MarshalBinary form); Sum
// resumes from them and hashes 3 blocks for a token instead of 5. The
// result equals crypto/hmac's (tested), and Sum does not allocate.
//
// Under Go's FIPS 140 mode Sum uses crypto/hmac instead (and allocates).
type Hasher struct {
	keyed        bool
	key          []byte // for crypto/hmac under FIPS 140 mode
	inner, outer []byte // SHA-256 states after key^ipad and key^opad
}

// New returns a Hasher for key. A nil or empty key selects plain
// SHA-256 (see Hasher). Keys longer than 64 bytes are hashed first, as HMAC
// specifies. Use at least 32 random bytes.
func New(key []byte) *Hasher {
	h := &Hasher{keyed: len(key) > 0}
	if !h.keyed {
		return h
	}
	h.key = append([]byte(nil), key...)
	if len(key) > sha256.BlockSize {
		k := sha256.Sum256(key)
		key = k[:]
	}
	var ipad, opad [sha256.BlockSize]byte
	for i := range ipad {
		var b byte
		if i < len(key) {
			b = key[i]
		}
		ipad[i] = b ^ 0x36
		opad[i] = b ^ 0x5c
	}
	h.inner, h.outer = midstate(ipad[:]), midstate(opad[:])
	clear(ipad[:])
	clear(opad[:])
	return h
}

// midstate returns SHA-256's state after hashing block.
func midstate(block []byte) []byte {
	d := sha256.New()
	d.Write(block)
	state, err := d.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic("tokenhash: crypto/sha256 cannot save its state: " + err.Error())
	}
	return state
}

// Keyed reports whether h uses HMAC (true) or plain SHA-256 (false).
func (h *Hasher) Keyed() bool { return h.keyed }

// Sum returns the hash of token.
func (h *Hasher) Sum(token string) [sha256.Size]byte {
	if stdlib && h.keyed {
		return h.stdSum([]byte(token)) // a copy: the token must not escape
	}
	// Everything stays in this function: handing d (an interface) to a
	// helper would move it, the buffer and out to the heap.
	d := sha256.New()
	if h.keyed {
		if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.inner); err != nil {
			panic(errResume)
		}
	}
	d.Write(Bytes(token)) // read only, not kept: []byte(token) would allocate
	var out [sha256.Size]byte
	d.Sum(out[:0])
	if !h.keyed {
		return out
	}
	if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.outer); err != nil {
		panic(errResume)
	}
	d.Write(out[:])
	d.Sum(out[:0])
	return out
}

// stdSum is Sum through crypto/hmac.
func (h *Hasher) stdSum(msg []byte) [sha256.Size]byte {
	mac := hmac.New(sha256.New, h.key)
	mac.Write(msg)
	var out [sha256.Size]byte
	mac.Sum(out[:0])
	return out
}

// errResume is Sum's panic should crypto/sha256 refuse a state it saved.
const errResume = "tokenhash: crypto/sha256 cannot restore its state"

// Bytes views s as a byte slice without copying. The result must not be
// written to; it feeds read-only hash and checksum functions, so that
// hashing a token does not allocate.
func Bytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
