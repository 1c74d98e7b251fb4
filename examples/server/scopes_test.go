package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScopedKeys: a key created with scopes can do what they allow and
// nothing else its privilege would; listings show scopes, ranges and the
// last address; a key without scopes keeps every scope of its privilege.
func TestScopedKeys(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)

	r := ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "dashboard", "privilege": "normal", "scopes": []string{"documents:read"}})
	require.Equal(t, 200, r.status, string(r.body))
	reader := r.json(t)["id"].(string)
	assert.Equal(t, []any{"documents:read"}, r.json(t)["scopes"])
	assert.Equal(t, []any{}, r.json(t)["allowedCidrs"])

	assert.Equal(t, 200, ts.as(reader, "POST", "/api/v1/search", map[string]any{"size": 1}).status, "documents:read allows search")
	r = ts.as(reader, "POST", "/api/v1/api/key", map[string]any{"description": "child"})
	assert.Equal(t, 403, r.status, string(r.body))
	assert.Equal(t, "insufficient_scope", r.code(t), "creating a key needs keys:manage")
	r = ts.as(reader, "GET", "/api/v1/api/key", nil)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "insufficient_scope", r.code(t), "listing keys needs keys:read")
	assert.Equal(t, 200, ts.as(reader, "GET", "/api/v1/ping", nil).status)

	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "ci", "scopes": []string{"keys:manage", "keys:read"}})
	require.Equal(t, 200, r.status, string(r.body))
	manager := r.json(t)["id"].(string)
	r = ts.as(manager, "POST", "/api/v1/search", nil)
	assert.Equal(t, 403, r.status)
	assert.Equal(t, "insufficient_scope", r.code(t))
	r = ts.as(manager, "POST", "/api/v1/api/key", map[string]any{"description": "wider", "scopes": []string{"documents:write"}})
	assert.Equal(t, 403, r.status, string(r.body))
	assert.Equal(t, "insufficient_privilege", r.code(t), "a key cannot grant a scope it lacks")
	r = ts.as(manager, "POST", "/api/v1/api/key", map[string]any{"description": "child"})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, []any{"keys:manage", "keys:read"}, r.json(t)["scopes"], "a scoped key's default is what it holds")
	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"scopes": []string{"documents:delete"}})
	assert.Equal(t, 400, r.status)
	assert.Equal(t, "invalid_request", r.code(t), "an unknown scope")

	// An unscoped key lists every scope of its privilege and works as
	// before.
	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "plain", "privilege": "read-only"})
	require.Equal(t, 200, r.status)
	assert.Equal(t, []any{"documents:read", "keys:read"}, r.json(t)["scopes"])
	plain := r.json(t)["id"].(string)
	assert.Equal(t, 200, ts.as(plain, "GET", "/api/v1/api/key", nil).status)

	r = ts.as(admin, "GET", "/api/v1/api/key", nil)
	require.Equal(t, 200, r.status)
	var list struct {
		Results []struct {
			Description  string   `json:"description"`
			Scopes       []string `json:"scopes"`
			AllowedCIDRs []string `json:"allowedCidrs"`
			LastUsedIP   *string  `json:"lastUsedIp"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(r.body, &list))
	found := false
	for _, k := range list.Results {
		if k.Description == "dashboard" {
			found = true
			assert.Equal(t, []string{"documents:read"}, k.Scopes)
			assert.Equal(t, []string{}, k.AllowedCIDRs)
			require.NotNil(t, k.LastUsedIP, "the key was used")
			assert.Equal(t, "127.0.0.1", *k.LastUsedIP)
		}
	}
	assert.True(t, found)

	// Narrowing a key's scopes through PATCH.
	r = ts.as(admin, "GET", "/api/v1/api/key", nil)
	var ids struct {
		Results []struct {
			ID          string `json:"id"`
			Description string `json:"description"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(r.body, &ids))
	for _, k := range ids.Results {
		if k.Description == "plain" {
			r = ts.as(admin, "PATCH", "/api/v1/api/key/"+k.ID, map[string]any{"scopes": []string{"keys:read"}})
			require.Equal(t, 200, r.status, string(r.body))
			assert.Equal(t, []any{"keys:read"}, r.json(t)["scopes"])
		}
	}
	r = ts.as(plain, "POST", "/api/v1/search", nil)
	assert.Equal(t, 403, r.status, "narrowed: search refused")
}

// TestAllowListedKeys: a key with allowed ranges works from inside them and
// is refused from outside (403 address_not_allowed), X-Forwarded-For is
// believed only from a trusted proxy, and forward-auth applies the same.
func TestAllowListedKeys(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	r := ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "local", "allowedCidrs": []string{"127.0.0.0/8", "::1"}})
	require.Equal(t, 200, r.status, string(r.body))
	local := r.json(t)["id"].(string)
	assert.Equal(t, []any{"127.0.0.0/8", "::1/128"}, r.json(t)["allowedCidrs"])
	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "office", "allowedCidrs": []string{"192.0.2.0/24"}})
	require.Equal(t, 200, r.status, string(r.body))
	office := r.json(t)["id"].(string)

	assert.Equal(t, 200, ts.as(local, "POST", "/api/v1/search", nil).status, "from inside its range")
	r = ts.as(office, "POST", "/api/v1/search", nil)
	assert.Equal(t, 403, r.status, "from outside its range")
	assert.Equal(t, "address_not_allowed", r.code(t))
	r = ts.as(office, "POST", "/api/v1/search", nil, "X-Forwarded-For", "192.0.2.10")
	assert.Equal(t, 403, r.status, "a client cannot choose its address without a trusted proxy")
	r = ts.call("GET", "/api/v1/forward-auth", nil, "Authorization", "Bearer "+office)
	assert.Equal(t, 403, r.status, "forward-auth refuses it too")
	r = ts.call("GET", "/api/v1/forward-auth", nil, "Authorization", "Bearer "+local)
	assert.Equal(t, 200, r.status)
	r = ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"allowedCidrs": []string{"not-a-range"}})
	assert.Equal(t, 400, r.status)

	// Behind a trusted proxy the client is X-Forwarded-For's.
	hs := startHandler(t, func(c *config) { c.trustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	body, _ := json.Marshal(map[string]any{"name": "admin@example.com", "password": adminPassword, "returnToken": true})
	req := httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body))
	req.RemoteAddr = "10.0.0.1:4000"
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, req)
	require.Equal(t, 200, w.Code, w.Body.String())
	var lr map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &lr))
	session := lr["token"].(string)
	body, _ = json.Marshal(map[string]any{"allowedCidrs": []string{"198.51.100.0/24"}})
	req = httptest.NewRequest("POST", "/api/v1/api/key", bytes.NewReader(body))
	req.RemoteAddr = "10.0.0.1:4000"
	req.Header.Set("Authorization", "Bearer "+session)
	w = httptest.NewRecorder()
	hs.h.ServeHTTP(w, req)
	require.Equal(t, 200, w.Code, w.Body.String())
	var issued map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &issued))
	key := issued["id"].(string)
	for _, c := range []struct {
		remote, xff string
		status      int
	}{
		{"10.0.0.1:4000", "198.51.100.7", 200},            // the proxy reports a client inside
		{"10.0.0.1:4000", "198.51.100.7, 192.0.2.1", 403}, // the proxy reports a client outside; the left part is the client's own
		{"192.0.2.1:4000", "198.51.100.7", 403},           // not a trusted proxy: the header is ignored
		{"198.51.100.9:4000", "", 200},                    // direct, inside
	} {
		req = httptest.NewRequest("POST", "/api/v1/search", nil)
		req.RemoteAddr = c.remote
		req.Header.Set("Authorization", "Bearer "+key)
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		w = httptest.NewRecorder()
		hs.h.ServeHTTP(w, req)
		assert.Equal(t, c.status, w.Code, "%s via %s: %s", c.xff, c.remote, w.Body.String())
	}
}

// TestAllowListedKeyApprovesOnlyWithinItsRanges: a key limited to some
// ranges may not allow an application, nor loosen the default app state,
// of a key usable from anywhere (403 insufficient_privilege, as when it
// raises one); it may deny, and may approve for a key within its ranges.
func TestAllowListedKeyApprovesOnlyWithinItsRanges(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	local, _ := ts.createKey(admin, map[string]any{"description": "local", "allowedCidrs": []string{"127.0.0.0/8", "::1"}})
	open, openID := ts.createKey(admin, map[string]any{"description": "anywhere", "defaultAppState": "pending"})
	fenced, fencedID := ts.createKey(admin, map[string]any{"description": "here", "defaultAppState": "pending", "allowedCidrs": []string{"127.0.0.1/32", "::1"}})
	for _, key := range []string{open, fenced} {
		assert.Equal(t, "app_pending", ts.as(key, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana").code(t))
	}

	r := ts.as(local, "PUT", "/api/v1/api/key/"+openID+"/apps/grafana", map[string]any{"state": "allow"})
	assert.Equal(t, 403, r.status, string(r.body))
	assert.Equal(t, "insufficient_privilege", r.code(t))
	r = ts.as(local, "PATCH", "/api/v1/api/key/"+openID, map[string]any{"defaultAppState": "allow"})
	assert.Equal(t, 403, r.status, string(r.body))
	assert.Equal(t, "insufficient_privilege", r.code(t))
	assert.Equal(t, "app_pending", ts.as(open, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana").code(t), "nothing changed")

	r = ts.as(local, "PUT", "/api/v1/api/key/"+openID+"/apps/grafana", map[string]any{"state": "deny"})
	assert.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "app_denied", ts.as(open, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana").code(t))
	r = ts.as(local, "PUT", "/api/v1/api/key/"+fencedID+"/apps/grafana", map[string]any{"state": "allow"})
	assert.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, 200, ts.as(fenced, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana").status)
	r = ts.as(admin, "PUT", "/api/v1/api/key/"+openID+"/apps/grafana", map[string]any{"state": "allow"})
	assert.Equal(t, 200, r.status, "a session without ranges may: %s", r.body)
}
