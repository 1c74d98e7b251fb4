package main

import (
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// GET /api/v1/api/key?expiringWithin=7d lists only the live keys that
// expire within the window, in days or hours, paged like any listing; a
// window that is not one is a 400 that says what is accepted.
func TestExpiringSoonListing(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	now := time.Now().UTC()
	key := func(d time.Duration) string {
		_, id := ts.createKey(admin, map[string]any{"expires": now.Add(d).Format(time.RFC3339)})
		return id
	}
	day := 24 * time.Hour
	inOneDay, inThreeDays, inTenDays := key(day), key(3*day), key(10*day)
	revoked := key(2 * day)
	require.Equal(t, 204, ts.as(admin, "DELETE", "/api/v1/api/key/"+revoked, nil).status)
	list := func(query string) []string {
		t.Helper()
		var ids []string
		path := "/api/v1/api/key?" + query
		for {
			r := ts.as(admin, "GET", path, nil)
			require.Equal(t, 200, r.status, string(r.body))
			body := r.json(t)
			for _, k := range body["results"].([]any) {
				ids = append(ids, k.(map[string]any)["id"].(string))
			}
			next, ok := body["next"].(string)
			if !ok {
				return ids
			}
			path = "/api/v1/api/key?" + query + "&cursor=" + url.QueryEscape(next)
		}
	}
	assert.Equal(t, []string{inOneDay, inThreeDays}, list("expiringWithin=7d"))
	assert.Equal(t, []string{inOneDay, inThreeDays}, list("expiringWithin=7d&limit=1"))
	assert.Equal(t, []string{inOneDay}, list("expiringWithin=48h"))
	assert.Equal(t, []string{inOneDay, inThreeDays, inTenDays}, list("expiringWithin=30d"))
	assert.Equal(t, []string{inOneDay, inThreeDays, inTenDays}, list(""))
	for _, bad := range []string{"expiringWithin=", "expiringWithin=0d", "expiringWithin=-1d", "expiringWithin=7",
		"expiringWithin=1.5d", "expiringWithin=week", "expiringWithin=3651d", "expiringWithin=7d&expiringWithin=1d"} {
		r := ts.as(admin, "GET", "/api/v1/api/key?"+bad, nil)
		assert.Equal(t, 400, r.status, "%s: %s", bad, r.body)
		assert.Equal(t, "invalid_request", r.code(t), bad)
		if !strings.Contains(bad, "&") {
			assert.Contains(t, string(r.body), `days (\"7d\") or hours (\"48h\")`, bad)
		}
	}
}

// With -max-expiry and -require-expiry, a key without an expiry or with
// one beyond the maximum is refused with a 400 naming the rule in days.
func TestRequiredAndMaximumExpiry(t *testing.T) {
	ts := startServerWith(t, func(c *config) { c.maxExpiry, c.requireExpiry = 30*24*time.Hour, true }, io.Discard)
	admin := ts.login("admin@example.com", adminPassword)
	now := time.Now().UTC()
	r := ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "no expiry"})
	assert.Equal(t, 400, r.status, string(r.body))
	assert.Contains(t, string(r.body), "need an expiry, at most 30 days away")
	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"expires": now.Add(31 * 24 * time.Hour).Format(time.RFC3339)})
	assert.Equal(t, 400, r.status, string(r.body))
	assert.Contains(t, string(r.body), "at most 30 days away")
	ts.createKey(admin, map[string]any{"expires": now.Add(29 * 24 * time.Hour).Format(time.RFC3339)})
}
