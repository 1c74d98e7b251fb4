package apitoken

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
)

// Hash is what stores keep in place of a token secret: HMAC-SHA256 of the
// token string under the host's key, or plain SHA-256 when the host gives no
// key. A stolen store yields hashes, not tokens.
//
// For a token that carries its issue time (see Format), the first 6 bytes
// are that time in Unix milliseconds, big-endian, in place of the first 6
// bytes of the sum; 26 bytes (208 bits) of the sum remain. Stores keep
// records in hash order, so new records then go at one end of the index
// instead of at random places: bbolt packs its pages (at 1M tokens the
// file went from 454 to 370 bytes per token), and records issued close
// together in time share pages. The time is not secret (a record ID
// starts with the same time) and a forger who sets it still has to match
// the remaining 208 bits.
type Hash [sha256.Size]byte

// issueTimeLen is how many leading bytes of a Hash hold the issue time.
const issueTimeLen = 6

// stamp writes a token's issue time from Format.parse into h's first
// bytes, unless it is noIssueTime.
func (h *Hash) stamp(issued int64) {
	if issued == noIssueTime {
		return
	}
	for i := range issueTimeLen {
		h[i] = byte(issued >> (8 * (issueTimeLen - 1 - i)))
	}
}

// String returns the hash in hex. It is not secret, but it is also not
// useful to log.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero hash (no hash set).
func (h Hash) IsZero() bool { return h == Hash{} }

// Hasher computes token hashes. With a key it computes HMAC-SHA256, so a
// stolen database cannot even be used to test guessed tokens without the key
// too. Without a key it computes plain SHA-256: still no secret at rest
// (token bodies have 128+ bits of entropy, so a hash cannot be reversed), but
// anyone holding the database can confirm a token they already have.
//
// HMAC hashes one block of key^ipad before the message and one of key^opad
// before the inner sum. Those blocks never change, so NewHasher hashes them
// once and keeps SHA-256's state after each (its MarshalBinary form); Sum
// resumes from them and hashes 3 blocks for a token instead of 5. The
// result equals crypto/hmac's (tested), and Sum does not allocate.
type Hasher struct {
	keyed        bool
	inner, outer []byte // SHA-256 states after key^ipad and key^opad
}

// NewHasher returns a Hasher for key. A nil or empty key selects plain
// SHA-256 (see Hasher). Keys longer than 64 bytes are hashed first, as HMAC
// specifies. Use at least 32 random bytes.
func NewHasher(key []byte) *Hasher {
	h := &Hasher{keyed: len(key) > 0}
	if !h.keyed {
		return h
	}
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
		panic("apitoken: crypto/sha256 cannot save its state: " + err.Error())
	}
	return state
}

// Keyed reports whether h uses HMAC (true) or plain SHA-256 (false).
func (h *Hasher) Keyed() bool { return h.keyed }

// Sum returns the hash of token.
func (h *Hasher) Sum(token string) Hash {
	// Everything stays in this function: handing d (an interface) to a
	// helper would move it, the buffer and out to the heap.
	d := sha256.New()
	if h.keyed {
		if err := d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.inner); err != nil {
			panic(errResume)
		}
	}
	d.Write(unsafeBytes(token)) // read only, not kept: []byte(token) would allocate
	var out Hash
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

// errResume is Sum's panic should crypto/sha256 refuse a state it saved.
const errResume = "apitoken: crypto/sha256 cannot restore its state"
