package login

import (
	"crypto/aes"
	"crypto/cipher"
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

const (
	sealVersion = 1
	sealLabel   = "apitoken mfa secret v1"
)

type sealer struct{ aead cipher.AEAD }

// newSealer returns the sealer of key, a 32-byte key from
// Manager.DeriveKey, or one that stores secrets as they are for a nil key.
func newSealer(key []byte) *sealer {
	if len(key) == 0 {
		return &sealer{}
	}
	block, _ := aes.NewCipher(key)  // 32 bytes: AES-256, cannot fail
	aead, _ := cipher.NewGCM(block) // cannot fail for AES
	return &sealer{aead: aead}
}

// seal returns what is stored for secret.
func (s *sealer) seal(secret []byte, userID string, rand io.Reader) ([]byte, error) {
	if s.aead == nil {
		return secret, nil
	}
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	return s.aead.Seal(out, out[1:], secret, []byte(userID)), nil
}

var errUnseal = errors.New("apitoken: stored MFA secret cannot be opened (wrong hash key or corrupt record)")

// open reverses seal.
func (s *sealer) open(stored []byte, userID string) ([]byte, error) {
	if s.aead == nil {
		return stored, nil
	}
	n := 1 + s.aead.NonceSize()
	if len(stored) < n+s.aead.Overhead() || stored[0] != sealVersion {
		return nil, errUnseal
	}
	secret, err := s.aead.Open(nil, stored[1:n], stored[n:], []byte(userID))
	if err != nil {
		return nil, errUnseal
	}
	return secret, nil
}
