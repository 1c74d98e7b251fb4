package apitoken

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// LoadOrCreateHashKey reads the hash key (Options.HashKey) from the file at
// path, or, if there is none, creates it with 32 random bytes and mode
// 0600. Losing the file makes every stored token unverifiable: keep it, and
// keep it apart from database backups.
//
// It refuses, rather than uses, a file anyone but its owner may read or
// write (mode bits beyond 0600), and a file that does not hold exactly 32
// raw bytes (a truncated copy, a hex or base64 encoding, a trailing
// newline): a host should not start on a key it did not make.
func LoadOrCreateHashKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return createHashKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("apitoken: hash key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("apitoken: hash key file: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: hash key file %s has mode %04o: others may read it; make it 0600 (chmod 600)", ErrInvalidArgument, path, perm)
	}
	key := make([]byte, minHashKey+1)
	n, _ := f.Read(key)
	if n != minHashKey || st.Size() != minHashKey {
		return nil, fmt.Errorf("%w: hash key file %s must hold exactly %d raw bytes (32 random bytes, not text), but has %d; restore the original file, or remove it only if no token was ever issued under it",
			ErrInvalidArgument, path, minHashKey, st.Size())
	}
	return key[:minHashKey], nil
}

// createHashKey writes a new random key to path, failing if the file
// appeared meanwhile.
func createHashKey(path string) ([]byte, error) {
	key := make([]byte, minHashKey)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("apitoken: creating the hash key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("apitoken: writing the hash key file: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("apitoken: writing the hash key file: %w", err)
	}
	return key, nil
}
