package usage

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUsageTrackerKeepsTheLatestUseOfEveryPair covers the pointer-free
// entries and each way out of them: an ID too long to inline, more
// application names than the table holds, and times int64 nanoseconds
// cannot hold.
func TestUsageTrackerKeepsTheLatestUseOfEveryPair(t *testing.T) {
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	longID := strings.Repeat("x", maxInlineID+1)
	ancient := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	type use struct {
		id, app string
		at      time.Time
	}
	uses := []use{
		{"tok1", "ci", base.Add(2 * time.Second)},
		{"tok1", "ci", base.Add(time.Second)}, // older: ignored
		{"tok1", "", base},
		{longID, "ci", base},
		{longID, "ci", base.Add(time.Minute)},
		{"tok2", "ci", ancient},
		{"tok2", "ci", ancient.Add(-time.Hour)}, // older: ignored
	}
	want := map[usageKey]time.Time{
		{"tok1", "ci"}: base.Add(2 * time.Second), {"tok1", ""}: base,
		{longID, "ci"}: base.Add(time.Minute), {"tok2", "ci"}: ancient,
	}
	for i := range maxAppNames + 10 { // past the table of names
		app := fmt.Sprintf("app-%d", i)
		uses = append(uses, use{"tok3", app, base.Add(time.Duration(i) * time.Millisecond)})
		want[usageKey{"tok3", app}] = base.Add(time.Duration(i) * time.Millisecond)
	}
	u := New()
	for _, x := range uses {
		u.Touch(x.id, x.at, x.app)
	}
	batch := takeAll(u)
	got := map[usageKey]time.Time{}
	for _, tc := range batch {
		k := usageKey{tc.ID, tc.App}
		if _, dup := got[k]; dup { // (require.NotContains scans the map: 16 s under -race)
			t.Fatalf("%v twice: one entry per pair", k)
		}
		got[k] = tc.At
	}
	require.Len(t, got, len(want))
	for k, at := range want {
		assert.True(t, at.Equal(got[k]), "%v: got %v, want %v", k, got[k], at)
	}
	assert.Empty(t, takeAll(u), "take clears")

	// A failed flush puts the batch back without overwriting newer uses.
	u.Touch("tok1", base.Add(time.Hour), "ci")
	for _, tc := range batch { // as Manager.Flush puts back a batch that failed
		u.Touch(tc.ID, tc.At, tc.App)
	}
	for _, tc := range takeAll(u) {
		if tc.ID == "tok1" && tc.App == "ci" {
			assert.True(t, tc.At.Equal(base.Add(time.Hour)), "kept the newer use")
		}
	}
}

// TestUsageLogsFoldWithoutLosingUses touches a few thousand tokens from
// several goroutines, filling many logs, while a folder goroutine plays
// the Manager's background loop and flushes take batches midway. Every
// pair must come out of the flushes once per batch, at its latest time,
// whichever way its log was folded: by the folder, by the caller that
// filled a second log, or by take.
func TestUsageLogsFoldWithoutLosingUses(t *testing.T) {
	const tokens, writers, rounds = 3000, 4, 3
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	u := New()
	stopFolder := startFolder(u)
	got := map[usageKey]time.Time{}
	merge := func(batch []taken) {
		seen := map[usageKey]bool{}
		for _, tc := range batch {
			k := usageKey{tc.ID, tc.App}
			require.False(t, seen[k], "%v twice in one batch", k)
			seen[k] = true
			if tc.At.After(got[k]) {
				got[k] = tc.At
			}
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for i := range tokens {
					// Later rounds are later in time; within a round the
					// writers' times interleave, so logs hold older uses
					// after newer ones.
					at := base.Add(time.Duration(r*writers*tokens+i*writers+w) * time.Millisecond)
					u.Touch(fmt.Sprintf("tok%05d", i), at, []string{"ci", "deploy"}[i%2])
				}
			}
		}()
	}
	for range 5 {
		merge(takeAll(u))
	}
	wg.Wait()
	stopFolder() // a full log may still wait; take must fold it
	merge(takeAll(u))
	require.Equal(t, tokens, len(got), "pairs flushed")
	last := (rounds-1)*writers*tokens + writers - 1
	for i := range tokens {
		k := usageKey{fmt.Sprintf("tok%05d", i), []string{"ci", "deploy"}[i%2]}
		want := base.Add(time.Duration(last+i*writers) * time.Millisecond)
		require.True(t, want.Equal(got[k]), "%v: got %v, want %v", k, got[k], want)
	}
	assert.Empty(t, takeAll(u), "take clears the logs too")
}

// TestUsageTakeFoldsEveryLog fills logs with no folder running: the first
// full log waits for one; the caller that fills the second folds both;
// the third waits; the rest stays in the current log. take must return
// every use.
func TestUsageTakeFoldsEveryLog(t *testing.T) {
	u := New()
	base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i := range 2 * usageLogSize {
		u.Touch(fmt.Sprintf("tok%05d", i), base.Add(time.Duration(i)), "ci")
	}
	require.Nil(t, u.waiting, "the caller that filled a second log folded the first")
	require.Len(t, u.pending, 2*usageLogSize, "both logs folded")
	const n = 3*usageLogSize + 10
	for i := 2 * usageLogSize; i < n; i++ {
		u.Touch(fmt.Sprintf("tok%05d", i), base.Add(time.Duration(i)), "ci")
	}
	require.NotNil(t, u.waiting, "the third full log waits for the folder")
	select {
	case <-u.wake:
	default:
		t.Fatal("the folder was not woken")
	}
	batch := takeAll(u)
	require.Equal(t, n, len(batch), "uses taken")
	for _, tc := range batch {
		var i int
		_, err := fmt.Sscanf(tc.ID, "tok%05d", &i)
		require.NoError(t, err)
		require.True(t, tc.At.Equal(base.Add(time.Duration(i))), "%s at %v", tc.ID, tc.At)
	}
	u.FoldWaiting() // woken after take folded its log: nothing to do
	assert.Empty(t, takeAll(u))
}

// startFolder folds full logs of u as the Manager's background loop does,
// until the returned function is called; that returns once it stopped.
func startFolder(u *Tracker) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-u.wake:
				u.FoldWaiting()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// BenchmarkLastUsedTouch is what last-used tracking adds to a
// verification of a token with no cache slot; the cached case is
// internal/cache's BenchmarkLastUsedTouch.
func BenchmarkLastUsedTouch(b *testing.B) {
	now := time.Now()
	// A token with no cache slot (cache off, or not cached) records its
	// use in the usage tracker: an append to its log, folded into the map
	// by a background goroutine as the Manager's loop does. The IDs cycle
	// through a million distinct tokens, as cold verifications would.
	//
	// Nothing else happens between touches here, so they outrun the
	// folder and the loop waits for folds: this measures the fold's
	// throughput (its cost per distinct token), not what a verification
	// pays while the folder keeps up. That share is in the cold verify
	// profile (README, Performance against peers).
	b.Run("uncached-1M-saturated", func(b *testing.B) {
		u := New()
		stopFolder := startFolder(u)
		ids := make([]string, 1<<20)
		for i := range ids {
			ids[i] = fmt.Sprintf("tok%013d", i)
		}
		b.ReportAllocs()
		at, i := now, 0
		for b.Loop() {
			at = at.Add(time.Nanosecond)
			u.Touch(ids[i&(len(ids)-1)], at, "default")
			i++
		}
		b.StopTimer()
		stopFolder()
		if got := takeAll(u); len(got) != min(i, len(ids)) {
			b.Fatalf("take after %d touches: %d pairs", i, len(got))
		}
	})
}

// taken is one use Take handed over.
type taken struct {
	ID  string
	At  time.Time
	App string
}

// takeAll returns what u.Take hands over.
func takeAll(u *Tracker) []taken {
	var out []taken
	u.Take(func(id string, at time.Time, app string) { out = append(out, taken{id, at, app}) })
	return out
}

// A flush's Take must not keep verifications waiting while it hands the
// uses over: add, called for the first use, waits until a Touch, a
// session's Touch and Last have completed, which they can only do if Take
// holds no lock while add runs (the verification cache's spill calls
// Touch under the cache's write lock, so every cached verification would
// wait too). The uses recorded meanwhile go to the next Take.
func TestUsageTakeLetsTouchOnWhileAddRuns(t *testing.T) {
	u := New()
	base := time.Unix(1_900_000_000, 0) // the zone Take returns
	const n = usageLogSize + 100        // one full log waiting, and some
	for i := range n {
		u.Touch(fmt.Sprintf("tok%05d", i), base, "ci")
	}
	others := make(chan struct{})
	var got []taken
	u.Take(func(id string, at time.Time, app string) {
		if got == nil {
			go func() {
				defer close(others)
				u.Touch("during", base, "ci")
				u.TouchSession("session", base)
				if _, ok := u.Last("session"); !ok {
					t.Error("a session touched during Take has no activity")
				}
			}()
			<-others
		}
		got = append(got, taken{id, at, app})
	})
	require.Len(t, got, n, "uses taken")
	next := takeAll(u)
	assert.ElementsMatch(t, []taken{{"during", base, "ci"}, {"session", base, ""}}, next, "uses recorded during Take")
	assert.Empty(t, takeAll(u))
}
