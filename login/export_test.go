package login

// Test hooks, compiled only into this package's tests.

// HashRuns returns how many argon2id runs the Service has made.
func (s *Service) HashRuns() int64 {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	return s.guard.hashes
}

// TOTPCodeDigits exposes the RFC 6238 code function with any digit count.
func TOTPCodeDigits(secret []byte, counter int64, digits int) string {
	return totpCode(secret, counter, digits)
}

// HoldHashing takes every hashing run slot, and with fillQueue every
// waiting place too, as a flood would, until release is called.
func (s *Service) HoldHashing(fillQueue bool) (release func()) {
	sl := s.guard.slots
	runs, queued := cap(sl.run), 0
	if fillQueue {
		queued = cap(sl.admit) - cap(sl.run)
	}
	for range runs + queued {
		sl.admit <- struct{}{}
	}
	for range runs {
		sl.run <- struct{}{}
	}
	return func() {
		for range runs {
			<-sl.run
		}
		for range runs + queued {
			<-sl.admit
		}
	}
}
