package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

const adminPassword = "admin password for tests"

// testServer runs the server's handler over a bolt file in dir.
type testServer struct {
	t    *testing.T
	srv  *httptest.Server
	app  *server
	logs *bytes.Buffer
}

func startServer(t *testing.T, dir string) *testServer {
	t.Helper()
	logs := &bytes.Buffer{}
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10}
	app, err := open(context.Background(), c, io.Discard, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	ts := &testServer{t: t, srv: httptest.NewServer(app.routes()), app: app, logs: logs}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.srv != nil {
		ts.srv.Close()
		ts.app.close()
		ts.srv = nil
	}
}

// reply is one HTTP answer.
type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

func (r reply) code(t *testing.T) string {
	t.Helper()
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// call sends method path with body (a string is sent raw) and headers.
func (ts *testServer) call(method, path string, body any, headers ...string) reply {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(ts.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.srv.URL+path, rd)
	require.NoError(ts.t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(ts.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header}
}

// as calls with token in the query, as the seeds do.
func (ts *testServer) as(token, method, path string, body any, headers ...string) reply {
	ts.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return ts.call(method, path+sep+"token="+url.QueryEscape(token), body, headers...)
}

func (ts *testServer) login(name, password string) string {
	ts.t.Helper()
	r := ts.call("POST", "/api/v1/login", map[string]any{"name": name, "password": password, "returnToken": true})
	require.Equal(ts.t, 200, r.status, string(r.body))
	return r.json(ts.t)["token"].(string)
}

func (ts *testServer) createKey(token string, body map[string]any) (secret, id string) {
	ts.t.Helper()
	r := ts.as(token, "POST", "/api/v1/api/key", body)
	require.Equal(ts.t, 200, r.status, string(r.body))
	m := r.json(ts.t)
	return m["id"].(string), m["keyId"].(string)
}

func TestEndToEnd(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)

	t.Run("login returns the seed's fields", func(t *testing.T) {
		r := ts.call("POST", "/api/v1/login", map[string]any{"name": "admin@example.com", "password": adminPassword, "returnToken": true})
		m := r.json(t)
		assert.Equal(t, true, m["logged"])
		assert.Equal(t, true, m["isUnlocked"])
		assert.Equal(t, "default", m["tenant"])
		assert.Regexp(t, `^ats_[0-9A-Za-z]{57}$`, m["token"])
		assert.Contains(t, m["rights"], "users.manage")
		assert.Equal(t, "admin", m["user"].(map[string]any)["privilege"])
		assert.Equal(t, map[string]any{"idleTimeoutSeconds": float64(1800)}, m["settings"], "the server's 30-minute session idle timeout")
	})
	t.Run("unknown name and wrong password give byte-identical answers", func(t *testing.T) {
		a := ts.call("POST", "/api/v1/login", map[string]any{"name": "nobody@example.com", "password": "whatever1"})
		b := ts.call("POST", "/api/v1/login", map[string]any{"name": "admin@example.com", "password": "whatever1"})
		assert.Equal(t, 401, a.status)
		assert.Equal(t, a.status, b.status)
		assert.Equal(t, string(a.body), string(b.body))
		assert.Equal(t, "invalid_credentials", a.code(t))
	})

	// Users: mary (normal), rob (read-only).
	r := ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "mary@example.com", "password": "mary password 1", "privilege": "normal"})
	require.Equal(t, 201, r.status, string(r.body))
	maryID := r.json(t)["id"].(string)
	r = ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "rob@example.com", "password": "rob password 1", "privilege": "read-only"})
	require.Equal(t, 201, r.status)
	mary := ts.login("mary@example.com", "mary password 1")
	rob := ts.login("rob@example.com", "rob password 1")

	t.Run("only admins manage users", func(t *testing.T) {
		r := ts.as(mary, "POST", "/api/v1/users", map[string]any{"name": "x@example.com", "password": "x password 1", "privilege": "admin"})
		assert.Equal(t, 403, r.status)
		assert.Equal(t, "insufficient_privilege", r.code(t))
		assert.Equal(t, 403, ts.as(mary, "GET", "/api/v1/users", nil).status)
		r = ts.as(admin, "GET", "/api/v1/users", nil)
		assert.Equal(t, 200, r.status)
		assert.Len(t, r.json(t)["results"], 3)
		assert.Equal(t, 409, ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "rob@example.com", "password": "rob password 2", "privilege": "normal"}).status)
	})

	maryKey, maryKeyID := ts.createKey(mary, map[string]any{"description": "API token for server-to-server authentication"})

	t.Run("a new key is returned once and used in place of the session", func(t *testing.T) {
		assert.Regexp(t, `^atk_[0-9A-Za-z]{57}$`, maryKey)
		r := ts.as(maryKey, "POST", "/api/v1/search", map[string]any{"from": 0, "size": 10})
		require.Equal(t, 200, r.status, string(r.body))
		m := r.json(t)
		assert.EqualValues(t, 196, m["total"])
		assert.Len(t, m["results"], 10)
		assert.NotEmpty(t, m["results"].([]any)[0].(map[string]any)["documentId"])
		assert.EqualValues(t, 224, ts.as(admin, "POST", "/api/v1/search", map[string]any{"from": 0, "size": 1}).json(t)["total"])
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	})
	t.Run("the privilege ceiling and account tokens hold", func(t *testing.T) {
		r := ts.as(mary, "POST", "/api/v1/api/key", map[string]any{"privilege": "admin"})
		assert.Equal(t, 403, r.status)
		assert.Equal(t, "insufficient_privilege", r.code(t))
		assert.Equal(t, 403, ts.as(mary, "POST", "/api/v1/api/key", map[string]any{"owner": "account"}).status)
		assert.Equal(t, 403, ts.as(rob, "POST", "/api/v1/api/key", map[string]any{}).status, "read-only users cannot create keys")
		_, err := ts.createKeyAllowFail(admin, map[string]any{"owner": "account", "privilege": "read-only"})
		assert.NoError(t, err)
	})
	t.Run("read-only credentials read but never write", func(t *testing.T) {
		ro, roID := ts.createKey(mary, map[string]any{"privilege": "read-only", "description": "reporting"})
		assert.Equal(t, 200, ts.as(ro, "POST", "/api/v1/search", map[string]any{}).status)
		assert.Equal(t, 200, ts.as(ro, "GET", "/api/v1/api/key", nil).status)
		for _, c := range []struct{ method, path string }{
			{"POST", "/api/v1/api/key"}, {"PATCH", "/api/v1/api/key/" + roID}, {"DELETE", "/api/v1/api/key/" + maryKeyID},
			{"POST", "/api/v1/api/key/" + roID + "/rotate"},
		} {
			r := ts.as(ro, c.method, c.path, map[string]any{})
			assert.Equal(t, 403, r.status, "%s %s: %s", c.method, c.path, r.body)
		}
	})
	t.Run("listing shows the caller's keys with IDs, never secrets", func(t *testing.T) {
		r := ts.as(mary, "GET", "/api/v1/api/key", nil)
		require.Equal(t, 200, r.status)
		assert.NotContains(t, string(r.body), maryKey)
		assert.NotContains(t, string(r.body), maryKey[4:40])
		results := r.json(t)["results"].([]any)
		require.Len(t, results, 2)
		first := results[0].(map[string]any)
		assert.Equal(t, maryKeyID, first["id"])
		assert.Equal(t, "generic", first["apiKeyType"])
		assert.Contains(t, first, "lastUsed")
		assert.Equal(t, "user", first["owner"])
		adminList := ts.as(admin, "GET", "/api/v1/api/key", nil).json(t)["results"].([]any)
		assert.Len(t, adminList, 3, "the admin sees mary's two keys and the account key")
		assert.Len(t, ts.as(rob, "GET", "/api/v1/api/key", nil).json(t)["results"], 0)
	})
	t.Run("a key the caller may not see answers exactly like an unknown one", func(t *testing.T) {
		hidden := ts.as(rob, "PATCH", "/api/v1/api/key/"+maryKeyID, map[string]any{"description": "x"})
		unknown := ts.as(rob, "PATCH", "/api/v1/api/key/doesNotExist0000", map[string]any{"description": "x"})
		assert.Equal(t, 404, hidden.status)
		assert.Equal(t, string(unknown.body), string(hidden.body))
		hidden = ts.as(rob, "DELETE", "/api/v1/api/key/"+maryKeyID, nil)
		unknown = ts.as(rob, "DELETE", "/api/v1/api/key/doesNotExist0000", nil)
		assert.Equal(t, unknown.status, hidden.status)
		assert.Equal(t, string(unknown.body), string(hidden.body))
	})
	t.Run("update changes description, privilege and default app state but nothing else", func(t *testing.T) {
		r := ts.as(mary, "PATCH", "/api/v1/api/key/"+maryKeyID, map[string]any{"description": "renamed", "defaultAppState": "pending", "privilege": "read-only"})
		require.Equal(t, 200, r.status, string(r.body))
		m := r.json(t)
		assert.Equal(t, "renamed", m["description"])
		assert.Equal(t, "pending", m["defaultAppState"])
		assert.Equal(t, "read-only", m["privilege"])
		r = ts.as(mary, "PATCH", "/api/v1/api/key/"+maryKeyID, map[string]any{"owner": "account"})
		assert.Equal(t, 400, r.status, "mass assignment must be refused")
		assert.Contains(t, r.json(t)["error"].(map[string]any)["message"], "unknown field")
		assert.Equal(t, 403, ts.as(mary, "PATCH", "/api/v1/api/key/"+maryKeyID, map[string]any{"privilege": "admin"}).status)
		r = ts.as(mary, "PATCH", "/api/v1/api/key/"+maryKeyID, map[string]any{"defaultAppState": "allow", "privilege": "normal"})
		require.Equal(t, 200, r.status)
	})
	t.Run("applications: pending is 401, allowed passes, denied is 403", func(t *testing.T) {
		key, id := ts.createKey(mary, map[string]any{"defaultAppState": "pending"})
		r := ts.as(key, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana")
		assert.Equal(t, 401, r.status)
		assert.Equal(t, "app_pending", r.code(t))
		assert.NotEmpty(t, r.header.Get("WWW-Authenticate"))
		r = ts.as(mary, "PUT", "/api/v1/api/key/"+id+"/apps/grafana", map[string]any{"state": "allow"})
		require.Equal(t, 200, r.status, string(r.body))
		apps := r.json(t)["apps"].([]any)
		assert.Equal(t, "allow", apps[0].(map[string]any)["state"])
		assert.Equal(t, 200, ts.as(key, "POST", "/api/v1/search", nil, "X-Circonus-App-Name", "grafana").status)
		// Circonus clients: Basic with the app name as user, and the header pair.
		req, _ := http.NewRequest("POST", ts.srv.URL+"/api/v1/search", nil)
		req.SetBasicAuth("grafana", key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		r = ts.call("POST", "/api/v1/search", nil, "X-Circonus-Auth-Token", key, "X-Circonus-App-Name", "collector")
		assert.Equal(t, "app_pending", r.code(t))
		r = ts.as(mary, "PUT", "/api/v1/api/key/"+id+"/apps/collector", map[string]any{"state": "deny"})
		require.Equal(t, 200, r.status)
		r = ts.call("POST", "/api/v1/search", nil, "X-Circonus-Auth-Token", key, "X-Circonus-App-Name", "collector")
		assert.Equal(t, 403, r.status)
		assert.Equal(t, "app_denied", r.code(t))
		assert.Equal(t, 400, ts.as(mary, "PUT", "/api/v1/api/key/"+id+"/apps/collector", map[string]any{"state": "pending"}).status)
		denyKey, _ := ts.createKey(mary, map[string]any{"defaultAppState": "deny"})
		assert.Equal(t, "app_denied", ts.as(denyKey, "POST", "/api/v1/search", nil).code(t))
	})
	t.Run("promote is for admins, irreversible and happens once", func(t *testing.T) {
		_, id := ts.createKey(mary, map[string]any{"description": "to promote"})
		assert.Equal(t, 403, ts.as(mary, "POST", "/api/v1/api/key/"+id+"/promote", nil).status)
		r := ts.as(admin, "POST", "/api/v1/api/key/"+id+"/promote", nil)
		require.Equal(t, 200, r.status, string(r.body))
		assert.Equal(t, "account", r.json(t)["owner"])
		assert.Equal(t, 409, ts.as(admin, "POST", "/api/v1/api/key/"+id+"/promote", nil).status)
		assert.Equal(t, 404, ts.as(mary, "PATCH", "/api/v1/api/key/"+id, map[string]any{"description": "mine?"}).status, "the account token left mary's view")
	})
	t.Run("rotation with grace 0 retires the old secret at once", func(t *testing.T) {
		old, id := ts.createKey(mary, map[string]any{"description": "rotate me"})
		r := ts.as(mary, "POST", "/api/v1/api/key/"+id+"/rotate", map[string]any{"grace": 0})
		require.Equal(t, 200, r.status, string(r.body))
		m := r.json(t)
		assert.Equal(t, 200, ts.as(m["id"].(string), "POST", "/api/v1/search", nil).status)
		assert.Equal(t, 401, ts.as(old, "POST", "/api/v1/search", nil).status)
		assert.Equal(t, "rotate me", m["description"])
		r = ts.as(mary, "POST", "/api/v1/api/key/"+m["keyId"].(string)+"/rotate", map[string]any{"grace": "1h"})
		require.Equal(t, 200, r.status)
		assert.Equal(t, 200, ts.as(m["id"].(string), "POST", "/api/v1/search", nil).status, "inside the grace the old secret works")
		assert.Equal(t, 400, ts.as(mary, "POST", "/api/v1/api/key/"+id+"/rotate", map[string]any{"grace": "soon"}).status)
	})
	t.Run("revoke by ID needs the owner or an admin; revoke by possession needs nothing", func(t *testing.T) {
		key, id := ts.createKey(mary, map[string]any{})
		assert.Equal(t, 401, ts.call("DELETE", "/api/v1/api/key/"+id, nil).status, "a bare ID without a credential")
		assert.Equal(t, 204, ts.as(mary, "DELETE", "/api/v1/api/key/"+id, nil).status)
		assert.Equal(t, 401, ts.as(key, "POST", "/api/v1/search", nil).status)
		assert.Equal(t, 204, ts.as(mary, "DELETE", "/api/v1/api/key/"+id, nil).status, "repeating a revoke is harmless")
		leaked, _ := ts.createKey(mary, map[string]any{})
		unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
		first := ts.call("DELETE", "/api/v1/api/key/"+leaked, nil)
		again := ts.call("DELETE", "/api/v1/api/key/"+leaked, nil)
		never := ts.call("DELETE", "/api/v1/api/key/"+unknown, nil)
		for _, r := range []reply{first, again, never} {
			assert.Equal(t, 204, r.status)
			assert.Empty(t, r.body)
		}
		assert.Equal(t, 401, ts.as(leaked, "POST", "/api/v1/search", nil).status)
		assert.NotContains(t, ts.logs.String(), leaked[4:40], "the server log holds a token")
	})
	t.Run("logout ends the session only", func(t *testing.T) {
		s := ts.login("mary@example.com", "mary password 1")
		key, _ := ts.createKey(s, map[string]any{})
		assert.Equal(t, 200, ts.as(s, "GET", "/api/v1/logout", nil).status)
		assert.Equal(t, 401, ts.as(s, "GET", "/api/v1/api/key", nil).status)
		assert.Equal(t, 200, ts.as(key, "POST", "/api/v1/search", nil).status)
		assert.Equal(t, 400, ts.as(key, "GET", "/api/v1/logout", nil).status, "an API token cannot log out")
	})
	t.Run("MFA locks new sessions once confirmed, until a code unlocks them", func(t *testing.T) {
		r := ts.as(mary, "POST", "/api/v1/mfa", nil)
		require.Equal(t, 200, r.status, string(r.body))
		assert.Equal(t, true, r.json(t)["pending"])
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(r.json(t)["secret"].(string))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(r.json(t)["otpauthUrl"].(string), "otpauth://totp/"))
		lr := ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 1", "returnToken": true}).json(t)
		assert.Equal(t, true, lr["isUnlocked"], "a pending secret changes nothing for logins")
		assert.Equal(t, "invalid_mfa_code", ts.as(mary, "POST", "/api/v1/mfa/confirm", map[string]any{"code": "000000"}).code(t))
		// Each code is accepted once: take the steps one by one, from the
		// oldest one still accepted (one step either side of now).
		last := time.Now().Unix()/30 - 2
		nextCode := func() string {
			last = max(last+1, time.Now().Unix()/30-1)
			return login.TOTPCode(secret, time.Unix(last*30, 0))
		}
		r = ts.as(mary, "POST", "/api/v1/mfa/confirm", map[string]any{"code": nextCode()})
		require.Equal(t, 200, r.status, string(r.body))
		lr = ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 1", "returnToken": true}).json(t)
		assert.Equal(t, false, lr["isUnlocked"])
		locked := lr["token"].(string)
		r = ts.as(locked, "POST", "/api/v1/api/key", map[string]any{})
		assert.Equal(t, 401, r.status)
		assert.Equal(t, "session_locked", r.code(t))
		assert.Equal(t, "invalid_mfa_code", ts.as(locked, "POST", "/api/v1/login/unlock", map[string]any{"code": "000000"}).code(t))
		r = ts.as(locked, "POST", "/api/v1/login/unlock", map[string]any{"code": nextCode()})
		require.Equal(t, 200, r.status, string(r.body))
		ts.createKey(locked, map[string]any{})
		r = ts.as(locked, "POST", "/api/v1/mfa", nil)
		assert.Equal(t, 400, r.status, "replacing an active secret needs a code from it: %s", r.body)
		locked2 := ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 1", "returnToken": true}).json(t)["token"].(string)
		assert.Equal(t, 200, ts.as(locked2, "GET", "/api/v1/logout", nil).status, "a locked session may log out")
		r = ts.as(locked, "DELETE", "/api/v1/mfa", map[string]any{"code": nextCode()})
		require.Equal(t, 200, r.status, string(r.body))
		lr = ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 1", "returnToken": true}).json(t)
		assert.Equal(t, true, lr["isUnlocked"], "after removal logins start unlocked")
		assert.Equal(t, 401, ts.as(mary, "GET", "/api/v1/api/key", nil).status, "removal ended the other sessions")
		mary = lr["token"].(string)
	})
	t.Run("disabling a user stops their sessions and keys; admins change roles", func(t *testing.T) {
		r := ts.as(admin, "PATCH", "/api/v1/users/"+maryID, map[string]any{"privilege": "read-only"})
		require.Equal(t, 200, r.status, string(r.body))
		assert.Equal(t, 403, ts.as(maryKey, "POST", "/api/v1/api/key", map[string]any{}).status, "a demoted owner caps the key")
		r = ts.as(admin, "PATCH", "/api/v1/users/"+maryID, map[string]any{"disabled": true})
		require.Equal(t, 200, r.status)
		assert.Equal(t, 401, ts.as(maryKey, "POST", "/api/v1/search", nil).status)
		assert.Equal(t, 401, ts.as(mary, "GET", "/api/v1/api/key", nil).status)
		assert.Equal(t, 401, ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 1"}).status)
		assert.Equal(t, 404, ts.as(admin, "PATCH", "/api/v1/users/nobody", map[string]any{"disabled": true}).status)
	})
	t.Run("two different tokens in one request are refused", func(t *testing.T) {
		r := ts.as(admin, "GET", "/api/v1/api/key", nil, "Authorization", "Bearer "+rob)
		assert.Equal(t, 400, r.status)
		assert.Equal(t, "ambiguous_credentials", r.code(t))
	})
	t.Run("unknown routes are JSON 404s", func(t *testing.T) {
		r := ts.call("GET", "/api/v1/nope", nil)
		assert.Equal(t, 404, r.status)
		assert.Equal(t, "not_found", r.code(t))
	})
}

func (ts *testServer) createKeyAllowFail(token string, body map[string]any) (string, error) {
	r := ts.as(token, "POST", "/api/v1/api/key", body)
	if r.status != 200 {
		return "", fmt.Errorf("status %d: %s", r.status, r.body)
	}
	return r.json(ts.t)["id"].(string), nil
}

func TestRequestBodies(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	big := `{"description":"` + strings.Repeat("a", 64<<10) + `"}`
	for _, tc := range []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"a body over the cap is 413", big, 413, "body_too_large"},
		{"an unknown field is 400", `{"description":"x","userId":"someone"}`, 400, "unknown field"},
		{"a case-variant key is 400", `{"Description":"x"}`, 400, "unknown field"},
		{"a duplicate key is 400", `{"description":"x","description":"y"}`, 400, "duplicate field"},
		{"trailing garbage is 400", `{"description":"x"} trailing`, 400, "unexpected data"},
		{"a second object is 400", `{"description":"x"}{}`, 400, "unexpected data"},
		{"a wrong type is 400", `{"description":42}`, 400, `description\" must be a string`},
		{"an unknown privilege is 400", `{"privilege":"root"}`, 400, "unknown privilege"},
		{"an over-long string is 400", `{"description":"` + strings.Repeat("b", 2000) + `"}`, 400, "longer than"},
		{"a description over the library's bound is 400", `{"description":"` + strings.Repeat("b", 300) + `"}`, 400, "description longer"},
		{"deep nesting is 400", `{"description":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`, 400, "must not be an object or array"},
		{"an array body is 400", `[1,2]`, 400, "must be a JSON object"},
		{"broken JSON is 400", `{"description":`, 400, "invalid JSON"},
		{"a bad time is 400", `{"expires":"tomorrow"}`, 400, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.as(admin, "POST", "/api/v1/api/key", tc.body, "Content-Type", "application/json")
			require.Equal(t, tc.status, r.status, string(r.body))
			assert.Contains(t, string(r.body), tc.want)
		})
	}
	t.Run("a chunked body over the cap is 413", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(big))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", ts.srv.URL+"/api/v1/api/key?token="+admin, pr)
		req.ContentLength = -1 // sent chunked
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 413, resp.StatusCode)
	})
	t.Run("a body one byte under the cap is read", func(t *testing.T) {
		body := `{"description":"` + strings.Repeat("c", 64<<10-19) + `"}`
		require.Equal(t, 64<<10-1, len(body))
		r := ts.as(admin, "POST", "/api/v1/api/key", body)
		assert.Equal(t, 400, r.status, "read, then refused for its over-long string")
		assert.Contains(t, string(r.body), "longer than")
	})
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openAPIDoc, &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	s := &server{}
	described := 0
	for _, rt := range s.routeTable() {
		ops, ok := doc.Paths[base+rt.path]
		if assert.True(t, ok, "%s is not in openapi.json", base+rt.path) {
			_, ok = ops[strings.ToLower(rt.method)]
			assert.True(t, ok, "%s %s is not in openapi.json", rt.method, base+rt.path)
			described++
		}
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	assert.Equal(t, described, n, "openapi.json describes operations the server does not serve")
	ts := startServer(t, t.TempDir())
	r := ts.call("GET", "/api/v1/openapi.json", nil)
	assert.Equal(t, 200, r.status)
	assert.JSONEq(t, string(openAPIDoc), string(r.body))
}

func TestRestartKeepsTokensAndRevocations(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir)
	admin := ts.login("admin@example.com", adminPassword)
	kept, _ := ts.createKey(admin, map[string]any{"description": "survives"})
	gone, goneID := ts.createKey(admin, map[string]any{})
	require.Equal(t, 204, ts.as(admin, "DELETE", "/api/v1/api/key/"+goneID, nil).status)
	require.Equal(t, 200, ts.as(kept, "POST", "/api/v1/search", nil).status)
	ts.stop() // flushes last-used data and closes the file

	ts2 := startServer(t, dir)
	assert.Equal(t, 200, ts2.as(kept, "POST", "/api/v1/search", nil).status)
	assert.Equal(t, 401, ts2.as(gone, "POST", "/api/v1/search", nil).status)
	assert.Equal(t, 200, ts2.as(admin, "GET", "/api/v1/api/key", nil).status, "sessions survive a restart too")
	list := ts2.as(admin, "GET", "/api/v1/api/key", nil).json(t)["results"].([]any)
	require.Len(t, list, 1)
	assert.NotNil(t, list[0].(map[string]any)["lastUsed"], "last-used data was flushed on shutdown")
}

// TestAPITokensCannotTakeOverTheirOwner replays the take-over: an admin's
// normal API token tries to set the admin's password and enrol MFA, and a
// read-only token tries to enrol MFA. Every step is refused, nothing
// changes, and the admin's own password and session still work.
func TestAPITokensCannotTakeOverTheirOwner(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	users := ts.as(admin, "GET", "/api/v1/users", nil).json(t)["results"].([]any)
	adminID := users[0].(map[string]any)["id"].(string)
	normal, _ := ts.createKey(admin, map[string]any{"privilege": "normal"})
	readOnly, _ := ts.createKey(admin, map[string]any{"privilege": "read-only"})
	full, _ := ts.createKey(admin, map[string]any{"privilege": "admin"})
	for _, tok := range []string{normal, readOnly, full} {
		for _, c := range []struct {
			method, path string
			body         map[string]any
		}{
			{"PATCH", "/api/v1/users/" + adminID, map[string]any{"password": "attacker password"}},
			{"PATCH", "/api/v1/users/" + adminID, map[string]any{"password": "attacker password", "currentPassword": adminPassword}},
			{"POST", "/api/v1/mfa", map[string]any{}},
			{"POST", "/api/v1/mfa/confirm", map[string]any{"code": "123456"}},
			{"DELETE", "/api/v1/mfa", map[string]any{"code": "123456"}},
		} {
			r := ts.as(tok, c.method, c.path, c.body)
			assert.Equal(t, 403, r.status, "%s %s with a token: %s", c.method, c.path, r.body)
			if tok != readOnly || c.method != "PATCH" { // a read-only token may not see other users at all
				assert.Equal(t, "session_required", r.code(t), "%s %s", c.method, c.path)
			}
		}
	}
	assert.Equal(t, 401, ts.call("POST", "/api/v1/login", map[string]any{"name": "admin@example.com", "password": "attacker password"}).status)
	lr := ts.call("POST", "/api/v1/login", map[string]any{"name": "admin@example.com", "password": adminPassword, "returnToken": true}).json(t)
	assert.Equal(t, true, lr["isUnlocked"], "no MFA was enrolled")
	// A stolen session cannot change the password without knowing it.
	r := ts.as(admin, "PATCH", "/api/v1/users/"+adminID, map[string]any{"password": "attacker password"})
	assert.Equal(t, 400, r.status, string(r.body))
	r = ts.as(admin, "PATCH", "/api/v1/users/"+adminID, map[string]any{"password": "attacker password", "currentPassword": "a guess"})
	assert.Equal(t, "invalid_credentials", r.code(t))
	r = ts.as(admin, "PATCH", "/api/v1/users/"+adminID, map[string]any{"password": "the admin's new password", "currentPassword": adminPassword})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, 401, ts.as(admin, "GET", "/api/v1/api/key", nil).status, "a password change ends the user's sessions")
	ts.login("admin@example.com", "the admin's new password")
}

// TestListingsPageOverHTTP lists 1,100 tokens 500 at a time: every
// token exactly once, in order, next absent on the last page; bad limits
// and cursors are 400.
func TestListingsPageOverHTTP(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	p, err := ts.app.m.Verify(context.Background(), admin, "")
	require.NoError(t, err)
	const n = 1100
	ids := make([]string, n)
	var wg sync.WaitGroup
	for w := range 16 { // concurrent, so bbolt commits them in batches
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				iss, err := ts.app.m.Issue(context.Background(), p, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = iss.Token.ID
			}
		}()
	}
	wg.Wait()
	var got []string
	var order []apitoken.Position
	path := "/api/v1/api/key?limit=500"
	pages := 0
	for {
		r := ts.as(admin, "GET", path, nil)
		require.Equal(t, 200, r.status, string(r.body))
		body := r.json(t)
		pages++
		for _, k := range body["results"].([]any) {
			key := k.(map[string]any)
			created, err := time.Parse(time.RFC3339Nano, key["created"].(string))
			require.NoError(t, err)
			got = append(got, key["id"].(string))
			order = append(order, apitoken.Position{Created: created, ID: key["id"].(string)})
		}
		next, ok := body["next"].(string)
		if !ok {
			break
		}
		path = "/api/v1/api/key?limit=500&cursor=" + url.QueryEscape(next)
	}
	assert.Equal(t, 3, pages)
	require.Len(t, got, n)
	assert.True(t, slices.IsSortedFunc(order, func(a, b apitoken.Position) int {
		if a.Before(b) {
			return -1
		}
		return 1
	}), "in (created, id) order")
	seen := map[string]bool{}
	for _, id := range got {
		assert.False(t, seen[id], "token %s listed twice", id)
		seen[id] = true
	}
	for _, id := range ids {
		assert.True(t, seen[id], "token %s never listed", id)
	}
	r := ts.as(admin, "GET", "/api/v1/api/key", nil)
	assert.Len(t, r.json(t)["results"], 1000, "the default page is 1,000 of the 1,100")
	for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "cursor=garbage!", "cursor=AAAA"} {
		r := ts.as(admin, "GET", "/api/v1/api/key?"+bad, nil)
		assert.Equal(t, 400, r.status, "%s: %s", bad, r.body)
		r = ts.as(admin, "GET", "/api/v1/users?"+bad, nil)
		assert.Equal(t, 400, r.status, "users %s: %s", bad, r.body)
	}
	r = ts.as(admin, "GET", "/api/v1/users?limit=1", nil)
	require.Equal(t, 200, r.status)
	assert.Len(t, r.json(t)["results"], 1)
	_, more := r.json(t)["next"]
	assert.False(t, more, "one user: no next page")
}

// TestStartUpSaysWhatItDid runs the server twice on one database: the
// first start creates the admin with the password from the environment;
// the second says the admin exists and the variable was not used; both
// name the page's and the API's URLs.
func TestStartUpSaysWhatItDid(t *testing.T) {
	dir := t.TempDir()
	c := config{addr: "127.0.0.1:0", dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10}
	start := func() string {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, c, out, io.Discard) }()
		for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "API:"); {
			require.True(t, time.Now().Before(deadline), "no start-up line: %q", out.String())
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		require.NoError(t, <-done)
		return out.String()
	}
	first := start()
	assert.Contains(t, first, "created admin admin@example.com with the password from APITOKEN_ADMIN_PASSWORD")
	assert.Regexp(t, `token page: http://127\.0\.0\.1:\d+/\n`, first)
	assert.Regexp(t, `API:\s+http://127\.0\.0\.1:\d+/api/v1 \(database `, first)
	second := start()
	assert.Contains(t, second, "admin admin@example.com exists already: APITOKEN_ADMIN_PASSWORD was not used")
	assert.NotContains(t, second, adminPassword)
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAUserPatchIsRefusedWhole: PATCH /users/{id} changes a role (the
// Manager's) or a password (package login's), not both in one body: such a
// body is 400 and changes neither, whoever sends it, so no request is half
// applied.
func TestAUserPatchIsRefusedWhole(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	r := ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "mary@example.com", "password": "mary password 1", "privilege": "normal"})
	require.Equal(t, 201, r.status, string(r.body))
	maryID := r.json(t)["id"].(string)
	mary := ts.login("mary@example.com", "mary password 1")
	r = ts.as(mary, "PATCH", "/api/v1/users/"+maryID, map[string]any{"privilege": "admin", "password": "mary password 2", "currentPassword": "mary password 1"})
	assert.Equal(t, 400, r.status, string(r.body))
	assert.Equal(t, "invalid_request", r.code(t))
	// An admin allowed both parts is refused the same way, so a wrong
	// current password can never leave a new role behind.
	r = ts.as(admin, "PATCH", "/api/v1/users/"+maryID, map[string]any{"privilege": "read-only", "password": "mary password 3"})
	assert.Equal(t, 400, r.status, string(r.body))
	r = ts.as(admin, "GET", "/api/v1/users?limit=10", nil)
	require.Equal(t, 200, r.status)
	assert.Contains(t, string(r.body), `"privilege":"normal"`, "the role did not change")
	assert.Equal(t, 200, ts.as(mary, "GET", "/api/v1/api/key", nil).status, "a refused patch ended the session")
	assert.Equal(t, 401, ts.call("POST", "/api/v1/login", map[string]any{"name": "mary@example.com", "password": "mary password 2"}).status, "the password changed")
	ts.login("mary@example.com", "mary password 1")
	r = ts.as(mary, "PATCH", "/api/v1/users/"+maryID, map[string]any{"password": "mary password 2", "currentPassword": "mary password 1"})
	require.Equal(t, 200, r.status, string(r.body))
	assert.Equal(t, "normal", r.json(t)["privilege"], "the role")
	ts.login("mary@example.com", "mary password 2")
}
