package apitoken

import "crypto/rand"

// Test hooks, compiled only into this package's tests.

// HashRuns returns how many argon2id runs the Manager has made.
func (m *Manager) HashRuns() int64 {
	m.logins.mu.Lock()
	defer m.logins.mu.Unlock()
	return m.logins.hashes
}

// TOTPCode exposes the RFC 6238 code function to external tests.
func TOTPCode(secret []byte, counter int64, digits int) string {
	return totpCode(secret, counter, digits)
}

// GenerateForTest makes a token string of the default format, with no
// record behind it.
func GenerateForTest(k Kind) string {
	s, err := defaultFormat.generate(k, rand.Reader)
	if err != nil {
		panic(err)
	}
	return s
}
