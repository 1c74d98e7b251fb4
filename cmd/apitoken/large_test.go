package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/storetest"
)

// A bolt store of 10,000 users and 1,000,000 tokens moves to PostgreSQL
// (at the long size; 50 users and 2,000 tokens by default, and 100,000
// tokens under the race detector, which is several times slower): the
// migration's time and peak memory (the child process's maximum resident
// set) are logged; every one of 10,000 tokens issued through a Manager,
// whose secrets the test keeps, verifies on the destination under the
// same key, and the revoked ones stay revoked; a second run changes
// nothing; and a run killed with SIGKILL a third of the way through
// resumes from its state file to the same records.
func TestMigrateALargeBoltStoreToPostgreSQL(t *testing.T) {
	users, issued, tokens := 20, 100, 600
	if storetest.Long() {
		users, issued, tokens = 10_000, 10_000, 1_000_000
		if raceEnabled {
			tokens = 100_000
		}
	}
	dstA, dstB := newAddr(t, "postgres"), newAddr(t, "postgres") // skips without PostgreSQL
	path := filepath.Join(t.TempDir(), "large.db")
	src := "bolt:" + path
	start := time.Now()
	bs, err := tokenbolt.Open(path, &tokenbolt.Options{NoSync: true}) // filling the source only
	if err != nil {
		t.Fatal(err)
	}
	m, err := apitoken.New(bs, &apitoken.Options{HashKey: testKey, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	pop := storetest.Populate(t, m, bs, users, issued, tokens)
	m.Close()
	bs.Close()
	fi, _ := os.Stat(path)
	t.Logf("source: %d users, %d tokens (%d issued with kept secrets, %d of them revoked), %d MB bolt file, filled in %v",
		pop.Users, pop.Tokens, len(pop.Secrets), len(pop.Revoked), fi.Size()>>20, time.Since(start).Round(time.Second))

	// The migration, in a child process so that its own time and peak
	// memory are measured.
	migrateChild := func(dst string, extra ...string) (migrateOut, time.Duration, int64) {
		t.Helper()
		start := time.Now()
		c := startChild(t, append([]string{"migrate", "-from", src, "-to", dst, "-json", "-sample", "10000"}, extra...)...)
		<-c.done
		took := time.Since(start)
		if !c.cmd.ProcessState.Success() {
			t.Fatalf("migrate: %v", c.cmd.ProcessState)
		}
		rss := c.cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		return decode[migrateOut](t, c.stdout.String()), took, rss
	}
	out, took, rss := migrateChild(dstA)
	if out.Tokens.Copied != pop.Tokens || out.Users.Copied != pop.Users || out.Check == nil || out.Check.DestTokens != pop.Tokens {
		t.Fatalf("migration: %+v", out)
	}
	t.Logf("migration of %d users and %d tokens: %v (%.0f tokens/s), peak RSS %d MiB, check compared %d tokens",
		pop.Users, pop.Tokens, took.Round(time.Millisecond), float64(pop.Tokens)/took.Seconds(), rss>>10, out.Check.SampledTokens)

	before := digest(t, dstA)
	again, took, rss := migrateChild(dstA)
	if again.Tokens.Copied != 0 || again.Users.Copied != 0 || again.Tokens.Unchanged != pop.Tokens {
		t.Fatalf("second run: %+v", again)
	}
	if after := digest(t, dstA); after != before {
		t.Fatalf("the second run changed the destination: %s, then %s", before, after)
	}
	t.Logf("second run: 0 copied, %d unchanged, destination digest unchanged (%s), %v, peak RSS %d MiB",
		again.Tokens.Unchanged, before, took.Round(time.Millisecond), rss>>10)

	batch := 1000
	if !storetest.Long() {
		batch = 1
	}
	killedAndResumed(t, src, dstB, dstA, pop, batch)

	start = time.Now()
	verifyAll(t, dstA, pop)
	t.Logf("all %d kept secrets checked on PostgreSQL under the same key in %v: %d verify, %d revoked stay revoked",
		len(pop.Secrets), time.Since(start).Round(time.Millisecond), len(pop.Secrets)-len(pop.Revoked), len(pop.Revoked))
}
