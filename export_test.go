package apitoken

// Test hooks, compiled only into this package's tests.

// HashRuns returns how many argon2id runs the Manager has made.
func (m *Manager) HashRuns() int64 {
	m.logins.mu.Lock()
	defer m.logins.mu.Unlock()
	return m.logins.hashes
}

// TOTPCodeDigits exposes the RFC 6238 code function with any digit count.
func TOTPCodeDigits(secret []byte, counter int64, digits int) string {
	return totpCode(secret, counter, digits)
}

// WithoutIssueTime returns tok as issued before tokens carried their issue
// time: the time digits dropped, the checksum redone.
func WithoutIssueTime(tok string) string { return withoutIssueTime(tok) }
