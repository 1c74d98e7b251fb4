package apitoken

import (
	mrand "math/rand/v2"
	"time"
)

// observerTimingSample is how many verifications there are, on average, for
// each one Options.ObserveVerify gets timed: each verification is timed with
// probability 1/observerTimingSample. Reading the clock twice can cost as
// much as a cached verification itself (on virtual machines whose clock
// is not read in user space, several times as much), so timing every one
// would double the cost of the hot path; a sample keeps the duration
// histogram's shape at a small fraction of that.
const observerTimingSample = 32

// timeThisVerification draws whether to time a verification, from the
// runtime's per-thread generator (no lock, no shared state).
func timeThisVerification() bool { return mrand.Uint32()%observerTimingSample == 0 }

// VerifyObservation describes one verification for Options.ObserveVerify:
// the measurements that events do not carry, successes included, with the
// outcome and, for a sample, how long it took. It holds no secret and no
// application name.
type VerifyObservation struct {
	// Kind is the verified credential's kind, KindAPI or KindSession; zero
	// when no record was found (a malformed or unknown token).
	Kind Kind
	// Err is the verification's error, nil on success; it wraps one of the
	// sentinels Manager.Verify lists, or is a *StoreError.
	Err error
	// CacheHit reports that the token's record came from the verification
	// cache, not the store.
	CacheHit bool
	// Timed reports that this verification is in the timing sample: one
	// verification in 32 on average, drawn at random (timing every one
	// would double the cost of a cached verification). Only then is
	// Duration set.
	Timed bool
	// Duration is the wall time Verify took, measured with the monotonic
	// clock, when Timed; zero otherwise.
	Duration time.Duration
}
