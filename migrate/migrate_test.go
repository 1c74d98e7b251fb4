package migrate_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/migrate"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

var key = []byte("0123456789abcdef0123456789abcdef")

func newManager(tb testing.TB, s apitoken.Store) *apitoken.Manager {
	tb.Helper()
	m, err := apitoken.New(s, &apitoken.Options{HashKey: key, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

func openBolt(tb testing.TB) *tokenbolt.Store {
	tb.Helper()
	s, err := tokenbolt.Open(filepath.Join(tb.TempDir(), "dst.db"), &tokenbolt.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Check(ctx); err != nil {
			tb.Errorf("bolt check: %v", err)
		}
		s.Close()
	})
	return s
}

// populated returns a memstore with users, sessions, issued and generated
// tokens, and the secrets of the issued ones.
func populated(t *testing.T) (*memstore.Store, storetest.Population) {
	src := memstore.New()
	m := newManager(t, src)
	pop := storetest.Populate(t, m, src, 20, 100, 600)
	m.Close()
	return src, pop
}

// verifyAll checks that every kept secret verifies on s, revoked ones
// failing with ErrRevoked.
func verifyAll(t *testing.T, s apitoken.Store, pop storetest.Population) {
	t.Helper()
	m := newManager(t, s)
	for i, secret := range pop.Secrets {
		_, err := m.Verify(ctx, secret, "")
		switch {
		case pop.Revoked[i] && !errors.Is(err, apitoken.ErrRevoked):
			t.Fatalf("revoked token %d: %v, want ErrRevoked", i, err)
		case !pop.Revoked[i] && err != nil:
			t.Fatalf("token %d does not verify after the migration: %v", i, err)
		}
	}
}

func TestMigrationCopiesEverythingAndTokensKeepVerifying(t *testing.T) {
	src, pop := populated(t)
	dst := openBolt(t)
	rep, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 64, Sample: 50})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Users.Copied != pop.Users || rep.Tokens.Copied != pop.Tokens || !rep.VersionsKept {
		t.Fatalf("report %+v, want %d users and %d tokens copied with versions", rep, pop.Users, pop.Tokens)
	}
	if rep.Check == nil || rep.Check.DestTokens != pop.Tokens || rep.Check.SampledTokens != 50 {
		t.Fatalf("check %+v", rep.Check)
	}
	// Every record, compared in full, versions included.
	ts, _ := src.WalkTokens(ctx, "", 1<<20)
	for _, want := range ts {
		got, err := dst.TokenByID(ctx, want.ID)
		if err != nil || !got.Equal(want) {
			t.Fatalf("token %q: %v", want.ID, err)
		}
	}

	// A second run changes nothing.
	again, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	if again.Users.Copied != 0 || again.Tokens.Copied != 0 || again.Tokens.Unchanged != pop.Tokens {
		t.Fatalf("second run: %+v", again.Cursor)
	}
	// Verification records usage, so the destination is then no longer
	// a copy: another run would be refused.
	verifyAll(t, dst, pop)
	if _, err := migrate.Run(ctx, src, dst, nil); !errors.Is(err, migrate.ErrDestinationDiffers) {
		t.Fatalf("a run onto a destination in use: %v, want ErrDestinationDiffers", err)
	}
}

func TestAnInterruptedMigrationResumesFromItsCheckpoint(t *testing.T) {
	src, pop := populated(t)
	dst := openBolt(t)
	var saved migrate.Cursor
	stop := errors.New("interrupted")
	batches := 0
	_, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 50, Checkpoint: func(c migrate.Cursor) error {
		if batches++; batches == 5 {
			return stop
		}
		saved = c
		return nil
	}})
	if !errors.Is(err, stop) || saved.Phase != migrate.PhaseTokens {
		t.Fatalf("interrupted run: %v at %+v", err, saved)
	}
	rep, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 50, Resume: saved})
	if err != nil {
		t.Fatal(err)
	}
	// The batch committed before the interruption counts as unchanged.
	if got := rep.Tokens.Copied + rep.Tokens.Unchanged; got != pop.Tokens || rep.Tokens.Unchanged != 50 {
		t.Fatalf("resumed report %+v", rep.Cursor)
	}
	verifyAll(t, dst, pop)
}

func TestADestinationWithDifferentRecordsIsRefused(t *testing.T) {
	src, _ := populated(t)
	dst := memstore.New()
	ts, _ := src.WalkTokens(ctx, "", 3)
	other := ts[2].Clone()
	other.Description = "a different record under the same ID"
	if _, err := dst.ImportTokens(ctx, []*apitoken.Token{other}); err != nil {
		t.Fatal(err)
	}
	_, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 10})
	if !errors.Is(err, migrate.ErrDestinationDiffers) {
		t.Fatalf("got %v, want ErrDestinationDiffers", err)
	}
	if _, err := dst.TokenByID(ctx, ts[0].ID); !errors.Is(err, apitoken.ErrNotFound) {
		t.Fatalf("the refused batch wrote a record: %v", err)
	}
	got, _ := dst.TokenByID(ctx, other.ID)
	if !got.Equal(other) {
		t.Fatal("the destination's record was changed")
	}
}

// createOnly hides a store's Importer: a store that only has the Store
// contract.
type createOnly struct{ apitoken.Store }

func (c createOnly) WalkTokens(ctx context.Context, after string, n int) ([]*apitoken.Token, error) {
	return c.Store.(migrate.Walker).WalkTokens(ctx, after, n)
}
func (c createOnly) WalkUsers(ctx context.Context, after string, n int) ([]*apitoken.User, error) {
	return c.Store.(migrate.Walker).WalkUsers(ctx, after, n)
}

func TestADestinationWithoutImportStartsVersionsAgainAndTokensStillVerify(t *testing.T) {
	src, pop := populated(t)
	dst := createOnly{memstore.New()}
	rep, err := migrate.Run(ctx, src, dst, &migrate.Options{Batch: 100, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil {
		t.Fatal(err)
	}
	if rep.VersionsKept || rep.Tokens.Copied != pop.Tokens {
		t.Fatalf("report %+v", rep)
	}
	again, err := migrate.Run(ctx, src, dst, nil)
	if err != nil || again.Tokens.Copied != 0 {
		t.Fatalf("second run: %+v, %v", again.Cursor, err)
	}
	verifyAll(t, dst, pop)
}

func TestASourceThatCannotBeWalkedIsRefused(t *testing.T) {
	type plain struct{ apitoken.Store }
	_, err := migrate.Run(ctx, plain{memstore.New()}, memstore.New(), nil)
	if !errors.Is(err, migrate.ErrNotWalker) {
		t.Fatalf("got %v", err)
	}
}
