package apitoken_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
)

// recordingObserver keeps every observation.
type recordingObserver struct {
	mu  sync.Mutex
	obs []apitoken.VerifyObservation
}

func (r *recordingObserver) ObserveVerify(o apitoken.VerifyObservation) {
	r.mu.Lock()
	r.obs = append(r.obs, o)
	r.mu.Unlock()
}

// Options.ObserveVerify sees each verification once, successes included, with its
// outcome, the credential's kind, and whether the cache served it.
func TestObserverSeesEveryVerification(t *testing.T) {
	obs := &recordingObserver{}
	m, _ := newManager(t, &apitoken.Options{ObserveVerify: obs.ObserveVerify})
	iss := issueAPIToken(t, m) // verifies the user's session once
	obs.obs = nil
	steps := []struct {
		token string
		kind  apitoken.Kind
		err   error
		hit   bool
	}{
		{iss.Secret, apitoken.KindAPI, nil, false}, // first use: records the app name, which drops the cache entry
		{iss.Secret, apitoken.KindAPI, nil, false}, // read from the store and cached
		{iss.Secret, apitoken.KindAPI, nil, true},
		{"atk_nonsense", 0, apitoken.ErrMalformed, false},
		{mustGenerate(), 0, apitoken.ErrUnknown, false},
	}
	for _, s := range steps {
		m.Verify(ctx, s.token, "")
	}
	if err := m.RevokeSecret(ctx, iss.Secret); err != nil {
		t.Fatal(err)
	}
	m.Verify(ctx, iss.Secret, "")
	steps = append(steps, struct {
		token string
		kind  apitoken.Kind
		err   error
		hit   bool
	}{iss.Secret, apitoken.KindAPI, apitoken.ErrRevoked, false})
	if len(obs.obs) != len(steps) {
		t.Fatalf("%d observations for %d verifications", len(obs.obs), len(steps))
	}
	for i, s := range steps {
		o := obs.obs[i]
		if o.Kind != s.kind || !errors.Is(o.Err, s.err) || (s.err == nil) != (o.Err == nil) || o.CacheHit != s.hit || o.Duration < 0 || (!o.Timed && o.Duration != 0) {
			t.Errorf("verification %d: %+v, want kind %v err %v hit %v", i, o, s.kind, s.err, s.hit)
		}
	}
}

// A sample of verifications is timed: about one in 32 (VerifyObservation.Timed),
// chosen at random, and only those carry a Duration.
func TestObserverTimesASample(t *testing.T) {
	obs := &recordingObserver{}
	m, _ := newManager(t, &apitoken.Options{ObserveVerify: obs.ObserveVerify})
	iss := issueAPIToken(t, m)
	const sample = 32 // the documented rate, one in 32
	const n = 100 * sample
	for range n {
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	timed := 0
	for _, o := range obs.obs {
		if o.Timed {
			timed++
		} else if o.Duration != 0 {
			t.Fatalf("an untimed observation has a duration: %+v", o)
		}
	}
	// Expected 100; the bounds fail with probability below 1e-20.
	if timed < 20 || timed > 300 {
		t.Errorf("%d of %d verifications timed, expected about %d", timed, len(obs.obs), len(obs.obs)/sample)
	}
}
