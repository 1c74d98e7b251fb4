package apitoken

import (
	"fmt"
	"strings"
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
	u := newUsageTracker()
	for _, x := range uses {
		u.touch(x.id, x.at, x.app)
	}
	batch := u.take()
	got := map[usageKey]time.Time{}
	for _, tc := range batch {
		k := usageKey{tc.ID, tc.App}
		require.NotContains(t, got, k, "one entry per pair")
		got[k] = tc.At
	}
	require.Len(t, got, len(want))
	for k, at := range want {
		assert.True(t, at.Equal(got[k]), "%v: got %v, want %v", k, got[k], at)
	}
	assert.Empty(t, u.take(), "take clears")

	// A failed flush puts the batch back without overwriting newer uses.
	u.touch("tok1", base.Add(time.Hour), "ci")
	u.putBack(batch)
	for _, tc := range u.take() {
		if tc.ID == "tok1" && tc.App == "ci" {
			assert.True(t, tc.At.Equal(base.Add(time.Hour)), "kept the newer use")
		}
	}
}
