package main

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntrospectAndRevokeRoutes: /api/v1/introspect answers admin account
// tokens only, with one body for every inactive token; /api/v1/revoke
// revokes by possession with 200 whatever the state.
func TestIntrospectAndRevokeRoutes(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	service, _ := ts.createKey(admin, map[string]any{"owner": "account", "privilege": "admin"})
	live, liveID := ts.createKey(admin, map[string]any{})
	form := func(tok string) string { return url.Values{"token": {tok}}.Encode() }
	const ct = "application/x-www-form-urlencoded"

	r := ts.call("POST", "/api/v1/introspect", form(live), "Authorization", "Bearer "+service, "Content-Type", ct)
	require.Equal(t, 200, r.status, string(r.body))
	m := r.json(t)
	assert.Equal(t, true, m["active"])
	assert.Equal(t, liveID, m["jti"])

	for _, caller := range []string{"", admin, live} {
		r := ts.call("POST", "/api/v1/introspect", form(live), "Authorization", "Bearer "+caller, "Content-Type", ct)
		assert.Equal(t, 401, r.status, string(r.body))
	}

	for _, tok := range []string{live, live, "garbage"} {
		r := ts.call("POST", "/api/v1/revoke", form(tok), "Content-Type", ct)
		assert.Equal(t, 200, r.status, string(r.body))
		assert.Empty(t, r.body)
	}
	r = ts.call("POST", "/api/v1/introspect", form(live), "Authorization", "Bearer "+service, "Content-Type", ct)
	assert.Equal(t, `{"active":false}`, string(r.body))
	assert.Equal(t, 401, ts.as(live, "GET", "/api/v1/ping", nil).status)
	assert.NotContains(t, ts.logs.String(), live, "the token is in the server's log")
}
