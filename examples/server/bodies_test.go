package main

import (
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryBodyEndpointRefusesBadBodies sends each kind of bad body to every
// route that reads one, straight into the handler, and measures each
// request's peak heap: with the collector switched off nothing is freed, so
// the heap's growth across the request bounds its peak from above.
func TestEveryBodyEndpointRefusesBadBodies(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	_, keyID := ts.createKey(admin, map[string]any{})
	r := ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "body@example.com", "password": "body password", "privilege": "normal"})
	require.Equal(t, 201, r.status)
	userID := r.json(t)["id"].(string)
	const limit = 64 << 10
	routes := []struct {
		method, path, field string
	}{
		{"POST", "/api/v1/login", "name"},
		{"POST", "/api/v1/login/unlock", "code"},
		{"POST", "/api/v1/api/key", "description"},
		{"PATCH", "/api/v1/api/key/" + keyID, "description"},
		{"PUT", "/api/v1/api/key/" + keyID + "/apps/ci", "state"},
		{"POST", "/api/v1/api/key/" + keyID + "/rotate", "grace"},
		{"POST", "/api/v1/users", "name"},
		{"PATCH", "/api/v1/users/" + userID, "password"},
		{"POST", "/api/v1/search", "from"},
	}
	overCap := func(field string) string {
		head := `{"` + field + `":"`
		return head + strings.Repeat("x", limit+1-len(head)-2) + `"}`
	}
	bodies := []struct {
		name, code string
		status     int
		body       func(field string) string
		chunked    bool
	}{
		{"one byte over the cap with Content-Length", "body_too_large", 413, overCap, false},
		{"one byte over the cap, chunked", "body_too_large", 413, overCap, true},
		{"10,000-deep nesting", "invalid_request", 400, func(f string) string {
			return `{"` + f + `":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`
		}, false},
		{"an unknown field", "invalid_request", 400, func(string) string { return `{"isAdmin":true}` }, false},
		{"a duplicate key", "invalid_request", 400, func(f string) string { return `{"` + f + `":"a","` + f + `":"b"}` }, false},
		{"a case-variant key", "invalid_request", 400, func(f string) string { return `{"` + strings.ToUpper(f[:1]) + f[1:] + `":"a"}` }, false},
		{"trailing garbage", "invalid_request", 400, func(f string) string { return `{} garbage` }, false},
		{"an over-long string", "invalid_request", 400, func(f string) string { return `{"` + f + `":"` + strings.Repeat("y", 5000) + `"}` }, false},
	}
	h := ts.app.routes()
	peak := map[string]uint64{} // per kind of body, the largest over all routes
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, rt := range routes {
		for _, b := range bodies {
			t.Run(fmt.Sprintf("%s %s with %s", rt.method, rt.path, b.name), func(t *testing.T) {
				body := b.body(rt.field)
				if b.status == 413 {
					require.Equal(t, limit+1, len(body))
				}
				var rd io.Reader = strings.NewReader(body)
				if b.chunked {
					rd = io.MultiReader(rd) // hides the length: sent with no Content-Length
				}
				req := httptest.NewRequest(rt.method, rt.path+"?token="+admin, rd)
				if b.chunked {
					req.ContentLength = -1
				}
				rec := httptest.NewRecorder()
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				h.ServeHTTP(rec, req)
				runtime.ReadMemStats(&after)
				assert.Equal(t, b.status, rec.Code, rec.Body.String())
				assert.Contains(t, rec.Body.String(), `"code":"`+b.code+`"`)
				growth := after.HeapAlloc - before.HeapAlloc
				if growth > 1<<20 {
					t.Errorf("one request grew the heap by %d bytes", growth)
				}
				peak[b.name] = max(peak[b.name], growth)
			})
		}
	}
	for _, b := range bodies {
		t.Logf("peak heap per request, %s: at most %d bytes", b.name, peak[b.name])
	}
	assert.Equal(t, 200, ts.as(admin, "GET", "/api/v1/api/key", nil).status, "the server still answers")
}
