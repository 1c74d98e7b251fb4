package apitoken

import (
	"crypto/hmac"
	"crypto/sha256"
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
// The zero-key HMAC is computed by hand over precomputed pads so that Sum
// does not allocate; it equals crypto/hmac's result (tested).
type Hasher struct {
	keyed      bool
	ipad, opad [sha256.BlockSize]byte
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
	for i := range h.ipad {
		var b byte
		if i < len(key) {
			b = key[i]
		}
		h.ipad[i] = b ^ 0x36
		h.opad[i] = b ^ 0x5c
	}
	return h
}

// Keyed reports whether h uses HMAC (true) or plain SHA-256 (false).
func (h *Hasher) Keyed() bool { return h.keyed }

// Sum returns the hash of token.
func (h *Hasher) Sum(token string) Hash {
	if len(token) > MaxTokenLength {
		return h.sumSlow(token)
	}
	if !h.keyed {
		var buf [MaxTokenLength]byte
		n := copy(buf[:], token)
		return sha256.Sum256(buf[:n])
	}
	var inner [sha256.BlockSize + MaxTokenLength]byte
	copy(inner[:], h.ipad[:])
	n := copy(inner[sha256.BlockSize:], token)
	ih := sha256.Sum256(inner[:sha256.BlockSize+n])
	var outer [sha256.BlockSize + sha256.Size]byte
	copy(outer[:], h.opad[:])
	copy(outer[sha256.BlockSize:], ih[:])
	return sha256.Sum256(outer[:])
}

func (h *Hasher) sumSlow(token string) Hash {
	if !h.keyed {
		return sha256.Sum256([]byte(token))
	}
	// Recover the key-derived pads: HMAC over ipad^0x36 equals the key.
	key := make([]byte, sha256.BlockSize)
	for i := range key {
		key[i] = h.ipad[i] ^ 0x36
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	var out Hash
	copy(out[:], m.Sum(nil))
	return out
}
