package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostUsersGetTokensAndTheStoreKeepsNoUser walks the service as its
// users would: alice signs in through the stand-in SSO, gets a token from
// the service's API, uses it, lists and revokes through the API; bob sees
// his own page; carol, read-only, may hold a read-only token; a disabled
// user's tokens stop; and the bolt file holds no user record.
func TestHostUsersGetTokensAndTheStoreKeepsNoUser(t *testing.T) {
	dir := t.TempDir()
	store, err := tokenbolt.Open(filepath.Join(dir, "hostauth.db"), &tokenbolt.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	key, err := apitoken.LoadOrCreateHashKey(filepath.Join(dir, "hostauth.db.key"))
	require.NoError(t, err)
	users := demoUsers()
	a, err := newApp(store, key, users)
	require.NoError(t, err)
	t.Cleanup(func() { a.m.Close() })
	srv := httptest.NewServer(a.routes())
	t.Cleanup(srv.Close)

	browser := func(user string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Get(srv.URL + "/sso/login?user=" + user)
		require.NoError(t, err)
		resp.Body.Close()
		return c
	}
	call := func(c *http.Client, method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if c == nil {
			c = http.DefaultClient
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}

	alice := browser("alice")
	status, issued := call(alice, "POST", "/api/tokens", "", `{"description":"laptop","privilege":"normal"}`)
	require.Equal(t, 200, status, "%v", issued)
	token := issued["token"].(string)
	status, me := call(nil, "GET", "/api/whoami", token, "")
	require.Equal(t, 200, status)
	assert.Equal(t, map[string]any{"user": "alice", "team": "acme", "privilege": "normal", "token": issued["id"]}, me)
	status, list := call(nil, "GET", "/api/tokens", token, "")
	require.Equal(t, 200, status)
	assert.Len(t, list["results"], 1)

	// The token page for a host user: signed in by the SSO cookie.
	resp, err := alice.Get(srv.URL + "/tokens/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(page), issued["id"].(string), "alice's page lists her token")
	assert.NotContains(t, string(page), `type="password"`)
	resp, err = browser("bob").Get(srv.URL + "/tokens/")
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.NotContains(t, string(page), issued["id"].(string), "bob's page does not list alice's token")

	// Nobody signed in may not ask for a token; carol (read-only) may hold
	// a read-only one but not more.
	status, _ = call(nil, "POST", "/api/tokens", "", `{}`)
	assert.Equal(t, 401, status)
	carol := browser("carol")
	status, _ = call(carol, "POST", "/api/tokens", "", `{"privilege":"normal"}`)
	assert.Equal(t, 403, status)
	status, ro := call(carol, "POST", "/api/tokens", "", `{}`)
	require.Equal(t, 200, status)
	assert.Equal(t, "read-only", ro["privilege"])

	// The service disables bob: his token stops at once.
	bob := browser("bob")
	_, bobs := call(bob, "POST", "/api/tokens", "", `{}`)
	users.mu.Lock()
	u := users.users["bob"]
	u.Disabled = true
	users.users["bob"] = u
	users.mu.Unlock()
	a.m.InvalidateUser("bob")
	status, _ = call(nil, "GET", "/api/whoami", bobs["token"].(string), "")
	assert.Equal(t, 401, status)

	// Revoke through the API; the token stops.
	status, _ = call(nil, "DELETE", "/api/tokens/"+url.PathEscape(issued["id"].(string)), token, "")
	assert.Equal(t, 204, status)
	status, _ = call(nil, "GET", "/api/whoami", token, "")
	assert.Equal(t, 401, status)

	stored, err := store.ListUsers(t.Context(), apitoken.UserQuery{Account: "acme"})
	require.NoError(t, err)
	assert.Empty(t, stored, "the store holds no user record")
}
