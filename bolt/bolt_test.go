package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

// newStore opens a fresh file with fsync on, as users run it.
func newStore(tb testing.TB) apitoken.Store {
	return openAt(tb, filepath.Join(tb.TempDir(), "apitoken.db"), nil)
}

func openAt(tb testing.TB, path string, o *tokenbolt.Options) *tokenbolt.Store {
	tb.Helper()
	s, err := tokenbolt.Open(path, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Check(ctx); err != nil && !isClosed(err) {
			tb.Errorf("consistency check after the test: %v", err)
		}
		s.Close()
	})
	return s
}

func isClosed(err error) bool { return errors.Is(err, apitoken.ErrClosed) }

func TestStore(t *testing.T) { storetest.Run(t, newStore) }

// The policy suite runs with fsync off: it checks rules, not durability
// (TestKill9 does that), and 500,000 fsyncs would take an hour here. Its
// sizes are 30 sequences and 100 rounds by default, 300 and 2,000 at the
// long size.
func TestLifecycle(t *testing.T) {
	cfg := &storetest.LifecycleConfig{Sequences: 30, Rounds: 100}
	if storetest.Long() {
		cfg = &storetest.LifecycleConfig{Sequences: 300, Rounds: 2000}
	}
	storetest.RunLifecycle(t, func(tb testing.TB) apitoken.Store {
		return openAt(tb, filepath.Join(tb.TempDir(), "apitoken.db"), &tokenbolt.Options{NoSync: true})
	}, cfg)
}

func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, newStore) }

func TestStress(t *testing.T) {
	d := 30 * time.Second
	if !storetest.Long() {
		d = time.Second
	}
	storetest.Stress(t, newStore, d)
}

// A CreateToken with no other in flight commits at once instead of
// waiting MaxBatchDelay for others to share its commit: with the delay
// an hour, a lone create still returns, one after another, and each is
// stored.
func TestALoneCreateDoesNotWaitForABatch(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "apitoken.db"), &tokenbolt.Options{NoSync: true, MaxBatchDelay: time.Hour})
	done := make(chan error)
	go func() {
		for i := range 3 {
			tok := &apitoken.Token{ID: fmt.Sprintf("tok%013d", i), Hash: apitoken.Hash{0: byte(i + 1)}, Kind: apitoken.KindAPI,
				Owner: apitoken.OwnerAccount, Account: "acme", Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow,
				Created: time.Now(), Expires: time.Now().Add(time.Hour)}
			if err := s.CreateToken(ctx, tok); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a liveness bound, not a speed target
		t.Fatal("a lone CreateToken waited for a batch (MaxBatchDelay is an hour)")
	}
	for i := range 3 {
		if _, err := s.TokenByID(ctx, fmt.Sprintf("tok%013d", i)); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
}
