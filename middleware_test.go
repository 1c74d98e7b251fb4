package apitoken_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// httpEnv is a Manager with an admin, a normal user, tokens in every state,
// and a Guard configured as the example server uses it.
type httpEnv struct {
	m     *apitoken.Manager
	g     *apitoken.Guard
	clock *storetest.Clock
	storetest.Secrets
	logs *bytes.Buffer
}

func newHTTPEnv(t *testing.T, store apitoken.Store, gopts *apitoken.GuardOptions) *httpEnv {
	t.Helper()
	e := &httpEnv{clock: storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)), logs: &bytes.Buffer{}}
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, e.logs}, nil))
	m, err := apitoken.New(store, &apitoken.Options{Now: e.clock.Now, Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e.m = m
	if gopts == nil {
		gopts = &apitoken.GuardOptions{Headers: []string{"X-Circonus-Auth-Token"}, QueryToken: true, Basic: true,
			AppHeaders: []string{"X-Circonus-App-Name", "X-App-Name"}}
	}
	e.g = apitoken.NewGuard(m, gopts)
	logins, err := login.New(m, store, nil)
	require.NoError(t, err)
	e.Secrets = storetest.IssueSecrets(t, m, logins, e.clock)
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// seen records what the next handler got.
type seen struct {
	principal apitoken.Principal
	url       string
	header    http.Header
}

func (e *httpEnv) handler(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.principal, _ = apitoken.FromContext(r.Context())
		s.url = r.URL.String() + " " + r.RequestURI
		s.header = r.Header.Clone()
		w.Write([]byte("ok"))
	})
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestGuardExtraction(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	other := e.ReadOnly
	for _, tc := range []struct {
		name    string
		url     string
		headers map[string]string
		status  int
		code    string
		app     string
	}{
		{"a Bearer header is accepted", "/", map[string]string{"Authorization": "Bearer " + e.Live}, 200, "", "default"},
		{"a lower-case bearer scheme is accepted", "/", map[string]string{"Authorization": "bearer " + e.Live}, 200, "", "default"},
		{"extra spaces around the token are accepted", "/", map[string]string{"Authorization": "  Bearer    " + e.Live + "  "}, 200, "", "default"},
		{"the token query parameter is accepted", "/?token=" + e.Live, nil, 200, "", "default"},
		{"the same token in a header and the query is accepted", "/?token=" + e.Live, map[string]string{"Authorization": "Bearer " + e.Live}, 200, "", "default"},
		{"two different tokens in a header and the query are refused", "/?token=" + other, map[string]string{"Authorization": "Bearer " + e.Live}, 400, "ambiguous_credentials", ""},
		{"duplicate query values that agree are accepted", "/?token=" + e.Live + "&token=" + e.Live, nil, 200, "", "default"},
		{"duplicate query values that differ are refused", "/?token=" + e.Live + "&token=" + other, nil, 400, "ambiguous_credentials", ""},
		{"a token in the extra header is accepted with its app header", "/", map[string]string{"X-Circonus-Auth-Token": e.Live, "X-Circonus-App-Name": "grafana"}, 200, "", "grafana"},
		{"Basic with the app as user and the token as password is accepted", "/", map[string]string{"Authorization": basic("collector", e.Live)}, 200, "", "collector"},
		{"an app header wins over the Basic user", "/", map[string]string{"Authorization": basic("collector", e.Live), "X-App-Name": "cli"}, 200, "", "cli"},
		{"Basic that is not base64 is refused", "/", map[string]string{"Authorization": "Basic !!!"}, 401, "invalid_token", ""},
		{"a wrong scheme is refused", "/", map[string]string{"Authorization": "Token " + e.Live}, 401, "invalid_token", ""},
		{"an empty Bearer is refused", "/", map[string]string{"Authorization": "Bearer "}, 401, "invalid_token", ""},
		{"an empty query token is refused", "/?token=", nil, 401, "invalid_token", ""},
		{"no token at all is refused", "/", nil, 401, "invalid_token", ""},
		{"an over-long app name is refused", "/", map[string]string{"Authorization": "Bearer " + e.Live, "X-App-Name": strings.Repeat("a", 65)}, 400, "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s seen
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", tc.url, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			e.g.Handler(e.handler(&s)).ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status != 200 {
				assertErrorBody(t, rec, tc.code)
				return
			}
			assert.Equal(t, tc.app, s.principal.App)
			assert.NotContains(t, s.url, e.Live, "the next handler saw the token in the URL")
			for k, vs := range s.header {
				for _, v := range vs {
					assert.NotContains(t, v, e.Live, "the next handler saw the token in %s", k)
				}
			}
		})
	}
}

func assertErrorBody(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	var body struct{ Error apitoken.HTTPError }
	require.NoError(t, jsonDecode(rec.Body.Bytes(), &body))
	assert.Equal(t, code, body.Error.Code)
	assert.NotEmpty(t, body.Error.Message)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	if rec.Code == 401 {
		assert.Equal(t, `Bearer realm="api"`, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestGuardFailureReasons(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	writeGate := e.g.Handler(e.g.RequireWriteUnlessSafe()(e.handler(&seen{})))
	adminGate := e.g.Handler(e.g.Require(apitoken.Admin)(e.handler(&seen{})))
	plain := e.g.Handler(e.handler(&seen{}))
	var invalidBody []byte
	for _, tc := range []struct {
		name   string
		h      http.Handler
		method string
		token  string
		app    string
		status int
		code   string
	}{
		{"a missing token is 401 invalid_token", plain, "GET", "", "", 401, "invalid_token"},
		{"a malformed token is 401 invalid_token", plain, "GET", "atk_nonsense", "", 401, "invalid_token"},
		{"an unknown token is 401 invalid_token", plain, "GET", unknown, "", 401, "invalid_token"},
		{"a revoked token is 401 invalid_token", plain, "GET", e.Revoked, "", 401, "invalid_token"},
		{"an expired token is 401 invalid_token", plain, "GET", e.Expired, "", 401, "invalid_token"},
		{"a disabled user's token is 401 invalid_token", plain, "GET", e.Disabled, "", 401, "invalid_token"},
		{"a locked session is 401 session_locked", plain, "GET", e.Locked, "", 401, "session_locked"},
		{"a pending app is 401 app_pending", plain, "GET", e.Pending, "new-app", 401, "app_pending"},
		{"a denied app is 403 app_denied", plain, "GET", e.Denied, "new-app", 403, "app_denied"},
		{"a read-only token may GET through the write gate", writeGate, "GET", e.ReadOnly, "", 200, ""},
		{"a read-only token may not POST through the write gate", writeGate, "POST", e.ReadOnly, "", 403, "insufficient_privilege"},
		{"a normal token may POST through the write gate", writeGate, "POST", e.Live, "", 200, ""},
		{"a normal token is refused by an admin gate", adminGate, "GET", e.Live, "", 403, "insufficient_privilege"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, "/", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.app != "" {
				req.Header.Set("X-App-Name", tc.app)
			}
			tc.h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status == 200 {
				return
			}
			assertErrorBody(t, rec, tc.code)
			if tc.code == "invalid_token" {
				if invalidBody == nil {
					invalidBody = rec.Body.Bytes()
				}
				assert.Equal(t, string(invalidBody), rec.Body.String(), "invalid-token bodies differ")
			}
		})
	}
	t.Run("a locked session reaches a route marked AllowLocked", func(t *testing.T) {
		var s seen
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/unlock", nil)
		req.Header.Set("Authorization", "Bearer "+e.Locked)
		e.g.AllowLocked(e.handler(&s)).ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code)
		assert.False(t, s.principal.Unlocked)
	})
	t.Run("a gate without the Guard fails closed", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.g.Require(apitoken.ReadOnly)(e.handler(&seen{})).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		assert.Equal(t, 401, rec.Code)
	})
}

// failingStore fails every read with a message that must not reach clients.
type failingStore struct{ apitoken.Store }

var errDisk = errors.New("disk on fire at /var/lib/secret-path")

func (failingStore) TokenByHash(context.Context, apitoken.Hash) (*apitoken.Token, error) {
	return nil, errDisk
}

func TestGuardStoreFailureIs500WithoutStoreText(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	m, err := apitoken.New(failingStore{memstore.New()}, &apitoken.Options{CacheSize: -1})
	require.NoError(t, err)
	defer m.Close()
	var reason error
	g := apitoken.NewGuard(m, &apitoken.GuardOptions{OnError: func(w http.ResponseWriter, r *http.Request, he apitoken.HTTPError, why error) {
		reason = why
		he.Write(w, "api")
	}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+e.Live)
	g.Handler(e.handler(&seen{})).ServeHTTP(rec, req)
	assert.Equal(t, 500, rec.Code)
	assertErrorBody(t, rec, "internal_error")
	assert.NotContains(t, rec.Body.String(), "disk")
	require.ErrorIs(t, reason, errDisk)
	var se *apitoken.StoreError
	assert.ErrorAs(t, reason, &se)
}

func TestGuardHostReplacesDenyResponses(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	g := apitoken.NewGuard(e.m, &apitoken.GuardOptions{OnDeny: func(w http.ResponseWriter, r *http.Request, he apitoken.HTTPError, why error) {
		w.Header().Set("X-Reason", why.Error())
		w.WriteHeader(he.Status)
		w.Write([]byte("custom " + he.Code))
	}})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+e.Revoked)
	g.Handler(e.handler(&seen{})).ServeHTTP(rec, req)
	assert.Equal(t, 401, rec.Code)
	assert.Equal(t, "custom invalid_token", rec.Body.String())
	assert.Equal(t, apitoken.ErrRevoked.Error(), rec.Header().Get("X-Reason"))
}

func TestQueryTokenResponsesAreNotCachedOrReferred(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	var s seen
	rec := httptest.NewRecorder()
	e.g.Handler(e.handler(&s)).ServeHTTP(rec, httptest.NewRequest("GET", "/search?from=0&token="+e.Live+"&size=10", nil))
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-referrer", rec.Header().Get("Referrer-Policy"))
	assert.Equal(t, "/search?from=0&size=10 /search?from=0&size=10", s.url)
	rec = httptest.NewRecorder()
	e.g.Handler(e.handler(&s)).ServeHTTP(rec, httptest.NewRequest("GET", "/?token="+e.Revoked, nil))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "refusals of query tokens are not cached either")
}

// TestNoSecretLeaks sends a table of requests through the Guard with an
// access logger inside it and the slog event adapter, then searches every
// log line, error string and URL the next handler saw for any secret.
func TestNoSecretLeaks(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	var access bytes.Buffer
	var reasons []string
	var mu sync.Mutex
	accessLog := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			access.WriteString(r.Method + " " + r.RequestURI + " " + r.URL.String() + " ")
			for k, v := range r.Header {
				access.WriteString(k + "=" + strings.Join(v, ",") + " ")
			}
			access.WriteString("\n")
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}
	g := apitoken.NewGuard(e.m, &apitoken.GuardOptions{Headers: []string{"X-Circonus-Auth-Token"}, QueryToken: true, Basic: true,
		OnDeny: func(w http.ResponseWriter, r *http.Request, he apitoken.HTTPError, why error) {
			mu.Lock()
			reasons = append(reasons, why.Error())
			mu.Unlock()
			he.Write(w, "api")
		}})
	h := g.Handler(accessLog(e.handler(&seen{})))
	secrets := []string{e.Live, e.ReadOnly, e.Revoked, e.Expired, e.Disabled, e.Pending, e.Denied, e.Locked}
	var bodies bytes.Buffer
	for _, sec := range secrets {
		for _, build := range []func() *http.Request{
			func() *http.Request { return httptest.NewRequest("GET", "/x?token="+sec, nil) },
			func() *http.Request {
				r := httptest.NewRequest("POST", "/x?a=1", nil)
				r.Header.Set("Authorization", "Bearer "+sec)
				r.Header.Set("X-App-Name", "leaky")
				return r
			},
			func() *http.Request {
				r := httptest.NewRequest("GET", "/x", nil)
				r.Header.Set("X-Circonus-Auth-Token", sec)
				return r
			},
			func() *http.Request {
				r := httptest.NewRequest("GET", "/x", nil)
				r.Header.Set("Authorization", basic("app", sec))
				return r
			},
			func() *http.Request { return httptest.NewRequest("GET", "/x?token="+sec+"&token="+e.Live, nil) },
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, build())
			bodies.Write(rec.Body.Bytes())
		}
	}
	all := access.String() + "\n" + e.logs.String() + "\n" + strings.Join(reasons, "\n") + "\n" + bodies.String()
	require.NotEmpty(t, access.String())
	require.NotEmpty(t, e.logs.String())
	require.NotEmpty(t, reasons)
	hits := 0
	for _, sec := range secrets {
		hits += strings.Count(all, sec) + strings.Count(all, sec[4:len(sec)-6])
	}
	assert.Zero(t, hits, "secrets found in logs, errors, URLs or bodies")
	assert.Empty(t, apitoken.Pattern.FindAllString(all, -1), "token-shaped strings in the output")
}

func BenchmarkMiddleware(b *testing.B) {
	m, secret := benchEnv(b, 0)
	g := apitoken.NewGuard(m, &apitoken.GuardOptions{Headers: []string{"X-Circonus-Auth-Token"}})
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apitoken.FromContext(r.Context())
		_ = p
		w.WriteHeader(204)
	})
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest("GET", "/search", nil)
		auth := []string{"Bearer " + secret}
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			req.Header["Authorization"] = auth // the Guard removes it from the request
			h.ServeHTTP(w, req)
		}
		if w.code != 204 {
			b.Fatalf("status %d", w.code)
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, bare) })
	b.Run("guarded", func(b *testing.B) { run(b, g.Handler(g.RequireWriteUnlessSafe()(bare))) })
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }

// TestOuterMiddlewareSeesNoCredentialAfterTheGuard checks that the Guard
// removes credential headers from the request itself: middleware outside
// the Guard that logs headers after the request was handled finds no
// secret, and a refused request keeps its headers for OnDeny to inspect.
func TestOuterMiddlewareSeesNoCredentialAfterTheGuard(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), &apitoken.GuardOptions{Headers: []string{"x-circonus-auth-token"}})
	var after http.Header
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			after = r.Header.Clone()
		})
	}
	h := outer(e.g.Handler(e.handler(&seen{})))
	for _, tc := range []struct {
		name, header, value string
		status              int
		kept                bool
	}{
		{"a Bearer header is removed once verified", "Authorization", "Bearer " + e.Live, 200, false},
		{"an extra token header is removed once verified", "X-Circonus-Auth-Token", e.Live, 200, false},
		{"a refused request keeps its header", "Authorization", "Bearer " + e.Revoked, 401, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set(tc.header, tc.value)
			r.Header.Set("X-Other", "kept")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, tc.status, w.Code)
			assert.Equal(t, tc.kept, after.Get(tc.header) != "", "credential header after the request")
			assert.Equal(t, "kept", after.Get("X-Other"), "other headers are untouched")
		})
	}
}

func TestFromContextFindsThePrincipalThroughOtherValues(t *testing.T) {
	type key struct{}
	p := apitoken.Principal{TokenID: "t1", Privilege: apitoken.Normal}
	ctx := context.WithValue(apitoken.NewContext(context.Background(), p), key{}, "v")
	got, ok := apitoken.FromContext(ctx)
	require.True(t, ok)
	assert.Equal(t, p, got)
	assert.Equal(t, "v", ctx.Value(key{}))
	_, ok = apitoken.FromContext(context.Background())
	assert.False(t, ok, "no principal in a bare context")
}

// A query token is removed from the request's own URL as well, so an
// access log outside the Guard does not record it.
func TestOuterMiddlewareSeesNoQueryTokenAfterTheGuard(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), &apitoken.GuardOptions{QueryToken: true})
	var uri, rawQuery string
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			uri, rawQuery = r.RequestURI, r.URL.RawQuery
		})
	}
	s := &seen{}
	h := outer(e.g.Handler(e.handler(s)))
	r := httptest.NewRequest("GET", "/x?a=1&token="+e.Live+"&b=2", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "/x?a=1&b=2", uri)
	assert.Equal(t, "a=1&b=2", rawQuery)
	assert.NotContains(t, s.url, e.Live, "the next handler's URL")
}

// A privilege gate refuses a locked session even behind AllowLocked, which
// exists for the unlock and logout routes only.
func TestPrivilegeGatesRefuseALockedSession(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	reached := false
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true })
	for name, h := range map[string]http.Handler{
		"Require(ReadOnly)":        e.g.AllowLocked(e.g.Require(apitoken.ReadOnly)(ok)),
		"RequireWriteUnlessSafe()": e.g.AllowLocked(e.g.RequireWriteUnlessSafe()(ok)),
	} {
		t.Run(name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+e.Locked)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, 401, w.Code, w.Body.String())
			assert.Contains(t, w.Body.String(), "session_locked")
			assert.False(t, reached, "the handler behind the gate ran")
		})
	}
	// AllowLocked alone still lets it reach an unlock route.
	reached = false
	r := httptest.NewRequest("POST", "/unlock", nil)
	r.Header.Set("Authorization", "Bearer "+e.Locked)
	e.g.AllowLocked(ok).ServeHTTP(httptest.NewRecorder(), r)
	assert.True(t, reached, "AllowLocked without a gate")
}
