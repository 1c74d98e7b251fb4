package bolt_test

// Creates on both of CreateToken's paths (a lone create commits at once,
// concurrent ones share a batch): run with -race.

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
)

func newCreateToken(i int) *apitoken.Token {
	return &apitoken.Token{ID: fmt.Sprintf("tok%013d", i), Hash: apitoken.Hash{0: byte(i), 1: byte(i >> 8), 31: 1}, Kind: apitoken.KindAPI,
		Owner: apitoken.OwnerAccount, Account: "acme", Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow,
		Created: time.Now(), Expires: time.Now().Add(time.Hour)}
}

// creates of one token racing from several goroutines (some take
// the lone db.Update path, the rest db.Batch) store it once: exactly one
// succeeds, the others get ErrDuplicate; distinct creates racing with
// them all succeed.
func TestRacingCreatesStoreOnce(t *testing.T) {
	for _, delay := range []time.Duration{time.Microsecond, time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			s := openAt(t, filepath.Join(t.TempDir(), "apitoken.db"), &tokenbolt.Options{NoSync: true, MaxBatchDelay: delay})
			for round := range 30 {
				var ok, dup atomic.Int32
				var wg sync.WaitGroup
				for g := range 6 {
					wg.Go(func() {
						err := s.CreateToken(ctx, newCreateToken(round*10))
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, apitoken.ErrDuplicate):
							dup.Add(1)
						default:
							t.Errorf("round %d: %v", round, err)
						}
						if err := s.CreateToken(ctx, newCreateToken(round*10+1+g)); err != nil {
							t.Errorf("round %d distinct %d: %v", round, g, err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != 1 || dup.Load() != 5 {
					t.Fatalf("round %d: %d created, %d duplicates; want 1 and 5", round, ok.Load(), dup.Load())
				}
			}
		})
	}
}

// the commit hook fails a lone create (db.Update path) and a
// batched one alike, and leaves nothing behind; after it is cleared the
// same tokens are created.
func TestACommitFailureLeavesNothingOnEitherPath(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "apitoken.db"), &tokenbolt.Options{NoSync: true, MaxBatchDelay: time.Millisecond})
	boom := errors.New("boom")
	tokenbolt.SetFailCommit(s, func() error { return boom })
	if err := s.CreateToken(ctx, newCreateToken(1)); !errors.Is(err, boom) {
		t.Fatalf("lone create under a failing commit: %v", err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			if err := s.CreateToken(ctx, newCreateToken(10+g)); !errors.Is(err, boom) {
				t.Errorf("concurrent create %d under a failing commit: %v", g, err)
			}
		})
	}
	wg.Wait()
	tokenbolt.SetFailCommit(s, nil)
	for _, i := range []int{1, 10, 11, 12, 13} {
		if _, err := s.TokenByID(ctx, newCreateToken(i).ID); !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("token %d after a failed commit: %v", i, err)
		}
		if err := s.CreateToken(ctx, newCreateToken(i)); err != nil {
			t.Fatalf("token %d after the hook cleared: %v", i, err)
		}
	}
}
