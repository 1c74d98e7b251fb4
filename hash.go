package apitoken

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/apitoken/apitoken/internal/tokenhash"
)

// Hash is what stores keep in place of a token secret: HMAC-SHA256 of the
// token string under the host's key, or plain SHA-256 when the host gives no
// key. A stolen store yields hashes, not tokens. Under a key of a keyring
// (Options.HashKeys) it is instead the token's SHA-256 whose last 26 bytes
// went through a keyed permutation, which the key's holder can move to
// another key without the token (Token.HashKeyID says which key).
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

// hasher computes token hashes (internal/tokenhash): HMAC-SHA256 under
// the host's key, or plain SHA-256 without one.
type hasher struct{ *tokenhash.Hasher }

// newHasher returns a hasher for key (nil: plain SHA-256).
func newHasher(key []byte) hasher { return hasher{tokenhash.New(key)} }

// Sum returns the hash of token.
func (h hasher) Sum(token string) Hash { return h.Hasher.Sum(token) }
