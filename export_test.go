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

// HoldHashing takes every hashing run slot, and with fillQueue every
// waiting place too, as a flood would, until release is called.
func (m *Manager) HoldHashing(fillQueue bool) (release func()) {
	s := m.logins.slots
	runs, queued := cap(s.run), 0
	if fillQueue {
		queued = cap(s.admit) - cap(s.run)
	}
	for range runs + queued {
		s.admit <- struct{}{}
	}
	for range runs {
		s.run <- struct{}{}
	}
	return func() {
		for range runs {
			<-s.run
		}
		for range runs + queued {
			<-s.admit
		}
	}
}
