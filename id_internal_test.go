package apitoken

import (
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIDsSortByCreation: IDs made later sort after earlier ones (across
// milliseconds and years), those made in one millisecond still differ,
// and every ID is 16 base62 characters.
func TestIDsSortByCreation(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	m := &Manager{opts: Options{Rand: rand.Reader, Now: func() time.Time { return at }}}
	var ids []string
	for _, step := range []time.Duration{0, 0, 0, time.Millisecond, time.Second, 24 * time.Hour, 40 * 365 * 24 * time.Hour} {
		at = at.Add(step)
		id, err := m.newID(at)
		require.NoError(t, err)
		require.Len(t, id, 16)
		for _, c := range []byte(id) {
			require.NotEqual(t, byte(0xff), base62Value[c], "not base62: %q", id)
		}
		ids = append(ids, id)
	}
	assert.Len(t, slices.Compact(slices.Clone(ids)), len(ids), "IDs made in one millisecond differ")
	assert.True(t, slices.IsSorted(ids[2:]), "later IDs sort after earlier ones: %q", ids)
	assert.Equal(t, ids[0][:timeDigits], ids[2][:timeDigits], "one millisecond, one time prefix")
}
