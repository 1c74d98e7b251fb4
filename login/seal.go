package login

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// TOTP secrets must be stored in a form the server can use again, so they
// cannot be hashed. With a HashKey they are sealed with AES-256-GCM under a
// key derived from it (Manager.DeriveKey(sealLabel), which is
// HMAC-SHA256(HashKey, "apitoken mfa secret v1"), the key this library
// has always used), the user ID as associated data, so a stolen database
// yields no usable MFA secret and a sealed secret cannot be moved to
// another user. Without a HashKey they are stored as they are (documented
// in the README).

//
// With a keyring (Options.HashKeys of package apitoken) a secret is sealed
// under the key derived from the current hash key, and the seal names that
// key: version 2, then the key ID (4 bytes, big-endian), the nonce and the
// sealed secret. Version 1 seals are those of Options.HashKey (key ID 0).
// A seal opens under any key the Manager still holds; one under an older
// key is sealed again under the current key when its code is next accepted,
// or by Service.ResealMFA. A seal read once the Manager holds no key at all
// is refused, naming its key, rather than taken for a secret stored as it
// is: the two differ in length (see looksSealed).

const (
	sealVersion   = 1 // under the key of Options.HashKey; no key ID
	sealVersionID = 2 // a key ID follows
	sealLabel     = "apitoken mfa secret v1"
	gcmNonce      = 12 // bytes: cipher.NewGCM's nonce
	gcmTag        = 16 // bytes: cipher.NewGCM's overhead
)

// sealer seals and opens MFA secrets under the keys derived from each hash
// key, by key ID.
type sealer struct {
	current uint32
	aeads   map[uint32]cipher.AEAD // empty: secrets are stored as they are
}

// newSealer returns the sealer of keys (32-byte keys from
// Manager.DeriveKeyring, by key ID), sealing under current; with no key
// it stores secrets as they are.
func newSealer(current uint32, keys map[uint32][]byte) *sealer {
	s := &sealer{current: current, aeads: map[uint32]cipher.AEAD{}}
	for id, key := range keys {
		block, _ := aes.NewCipher(key)  // 32 bytes: AES-256, cannot fail
		aead, _ := cipher.NewGCM(block) // cannot fail for AES
		s.aeads[id] = aead
	}
	return s
}

// seal returns what is stored for secret.
func (s *sealer) seal(secret []byte, userID string, rand io.Reader) ([]byte, error) {
	aead := s.aeads[s.current]
	if aead == nil {
		return secret, nil
	}
	head := 1
	if s.current != 0 {
		head += 4
	}
	out := make([]byte, head+aead.NonceSize(), head+aead.NonceSize()+len(secret)+aead.Overhead())
	out[0] = sealVersion
	if s.current != 0 {
		out[0] = sealVersionID
		binary.BigEndian.PutUint32(out[1:5], s.current)
	}
	if _, err := io.ReadFull(rand, out[head:]); err != nil {
		return nil, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	return aead.Seal(out, out[head:], secret, []byte(userID)), nil
}

var errUnseal = errors.New("apitoken: stored MFA secret cannot be opened (wrong hash key or corrupt record)")

// keyOf returns the key ID a stored secret is sealed under and the length
// of its head, or ok false if it is not a seal this package writes.
func keyOf(stored []byte) (id uint32, head int, ok bool) {
	switch {
	case len(stored) > 0 && stored[0] == sealVersion:
		return 0, 1, true
	case len(stored) >= 5 && stored[0] == sealVersionID:
		id = binary.BigEndian.Uint32(stored[1:5])
		return id, 5, id != 0
	}
	return 0, 0, false
}

// looksSealed reports whether stored, read by a sealer with no key, is
// nonetheless a seal (written while a hash key was configured), and under
// which key: its head names a key and it is as long as a sealed
// totpSecret-byte secret. A secret this package stores as it is is
// totpSecret bytes long, so it never has that shape.
func looksSealed(stored []byte) (id uint32, ok bool) {
	id, head, ok := keyOf(stored)
	return id, ok && len(stored) == head+gcmNonce+totpSecret+gcmTag
}

// errKeyGone refuses a seal under key id, which the Manager no longer
// holds. It names the key only, never the stored bytes.
func errKeyGone(id uint32) error {
	return fmt.Errorf("%w: it is sealed under hash key %d, which the Manager no longer holds", errUnseal, id)
}

// open reverses seal, under whichever key the seal names.
func (s *sealer) open(stored []byte, userID string) ([]byte, error) {
	if len(s.aeads) == 0 {
		if id, ok := looksSealed(stored); ok {
			return nil, errKeyGone(id)
		}
		return stored, nil
	}
	id, head, ok := keyOf(stored)
	if !ok {
		return nil, errUnseal
	}
	aead := s.aeads[id]
	if aead == nil {
		return nil, errKeyGone(id)
	}
	n := head + aead.NonceSize()
	if len(stored) < n+aead.Overhead() {
		return nil, errUnseal
	}
	secret, err := aead.Open(nil, stored[head:n], stored[n:], []byte(userID))
	if err != nil {
		return nil, errUnseal
	}
	return secret, nil
}

// stale reports whether stored is sealed under a key other than the
// current one (and so should be sealed again), as is every seal once the
// Manager holds no key.
func (s *sealer) stale(stored []byte) bool {
	if len(stored) == 0 {
		return false
	}
	if len(s.aeads) == 0 {
		_, ok := looksSealed(stored)
		return ok
	}
	id, _, ok := keyOf(stored)
	return ok && id != s.current
}

// reseal opens stored and seals it again under the current key.
func (s *sealer) reseal(stored []byte, userID string, rand io.Reader) ([]byte, error) {
	secret, err := s.open(stored, userID)
	if err != nil {
		return nil, err
	}
	defer clear(secret)
	return s.seal(secret, userID, rand)
}
