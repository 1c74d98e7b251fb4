package apitoken_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// TestForwardAuth runs the forward-auth handler over every kind of
// credential and where it can come from: the answers are the Guard's, the
// identity headers name the Principal, and no answer holds the token.
func TestForwardAuth(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	live, err := e.m.Verify(ctx, e.Live, "")
	require.NoError(t, err)
	fa := e.g.ForwardAuth()
	q := url.QueryEscape
	for _, tc := range []struct {
		name    string
		url     string
		headers map[string]string
		status  int
		code    string
		app     string
		uri     string // the X-Auth-Request-Uri expected
	}{
		{"a Bearer header is accepted", "/fa", map[string]string{"Authorization": "Bearer " + e.Live}, 200, "", "default", ""},
		{"the extra header and its app header are accepted", "/fa", map[string]string{"X-Circonus-Auth-Token": e.Live, "X-Circonus-App-Name": "grafana"}, 200, "", "grafana", ""},
		{"Basic app:token is accepted", "/fa", map[string]string{"Authorization": basic("collector", e.Live)}, 200, "", "collector", ""},
		{"a token in X-Original-URI's query is accepted, and the URI comes back without it",
			"/fa", map[string]string{"X-Original-URI": "/docs/1?a=1&token=" + q(e.Live) + "&b=2"}, 200, "", "default", "/docs/1?a=1&b=2"},
		{"a token in X-Forwarded-Uri's query is accepted",
			"/fa", map[string]string{"X-Forwarded-Uri": "/docs/1?token=" + q(e.Live)}, 200, "", "default", "/docs/1"},
		{"a token in the handler's own query is accepted", "/fa?token=" + q(e.Live), nil, 200, "", "default", ""},
		{"a URI without a token comes back as it was",
			"/fa", map[string]string{"Authorization": "Bearer " + e.Live, "X-Original-URI": "/a/b?x=%2F&y"}, 200, "", "default", "/a/b?x=%2F&y"},
		{"the same token in a header and the forwarded query is accepted",
			"/fa", map[string]string{"Authorization": "Bearer " + e.Live, "X-Original-URI": "/?token=" + e.Live}, 200, "", "default", "/"},
		{"braces in the URI come back percent-encoded",
			"/fa", map[string]string{"X-Original-URI": "/{a}?q={env.HOME}&token=" + q(e.Live)}, 200, "", "default", "/%7Ba%7D?q=%7Benv.HOME%7D"},
		{"two different tokens across header and forwarded query are refused",
			"/fa", map[string]string{"Authorization": "Bearer " + e.Live, "X-Forwarded-Uri": "/?token=" + e.ReadOnly}, 400, "ambiguous_credentials", "", ""},
		{"no token is refused", "/fa", map[string]string{"X-Original-URI": "/docs"}, 401, "invalid_token", "", ""},
		{"a revoked token is refused", "/fa", map[string]string{"Authorization": "Bearer " + e.Revoked}, 401, "invalid_token", "", ""},
		{"an expired token is refused", "/fa", map[string]string{"Authorization": "Bearer " + e.Expired}, 401, "invalid_token", "", ""},
		{"a disabled user's token is refused", "/fa", map[string]string{"Authorization": "Bearer " + e.Disabled}, 401, "invalid_token", "", ""},
		{"a pending app is refused with 401", "/fa", map[string]string{"Authorization": "Bearer " + e.Pending}, 401, "app_pending", "", ""},
		{"a denied app is refused with 403", "/fa", map[string]string{"Authorization": "Bearer " + e.Denied}, 403, "app_denied", "", ""},
		{"a locked session is refused", "/fa", map[string]string{"Authorization": "Bearer " + e.Locked}, 401, "session_locked", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", tc.url, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			fa.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			for k, vs := range rec.Header() {
				for _, v := range vs {
					assert.NotContains(t, v, e.Live, "the answer's %s holds the token", k)
				}
			}
			assert.NotContains(t, rec.Body.String(), e.Live)
			if tc.status != 200 {
				assertErrorBody(t, rec, tc.code)
				assert.Empty(t, rec.Header().Get("X-Auth-Token-Id"))
				return
			}
			assert.Empty(t, rec.Body.String())
			h := rec.Header()
			assert.Equal(t, live.TokenID, h.Get("X-Auth-Token-Id"))
			assert.Equal(t, "acme", h.Get("X-Auth-Account"))
			assert.Equal(t, live.UserID, h.Get("X-Auth-User"))
			assert.Contains(t, h, "X-Auth-App", "every identity header is sent")
			assert.Equal(t, "normal", h.Get("X-Auth-Privilege"))
			assert.Equal(t, tc.app, h.Get("X-Auth-App"))
			assert.Equal(t, tc.uri, h.Get("X-Auth-Request-Uri"))
			if _, q, ok := strings.Cut(tc.uri, "?"); ok && q != "" {
				assert.Equal(t, "?"+q, h.Get("X-Auth-Request-Query"))
			} else {
				assert.Empty(t, h.Get("X-Auth-Request-Query"))
			}
		})
	}
}

// TestForwardAuthQueryTokensOnlyWhenEnabled: with QueryToken off, a token
// in the forwarded URI is no credential, as it is none for the Guard.
func TestForwardAuthQueryTokensOnlyWhenEnabled(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), &apitoken.GuardOptions{})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/fa?token="+e.Live, nil)
	req.Header.Set("X-Original-URI", "/x?token="+e.Live)
	req.Header.Set("X-Forwarded-Uri", "/x?token="+e.Live)
	e.g.ForwardAuth().ServeHTTP(rec, req)
	assert.Equal(t, 401, rec.Code)
}

// TestForwardAuthAnswersAsTheGuard: for the same credential, the forward-
// auth handler and the Guard give the same status and the same body.
func TestForwardAuthAnswersAsTheGuard(t *testing.T) {
	e := newHTTPEnv(t, memstore.New(), nil)
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	guarded := e.g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tok := range []string{e.Live, e.ReadOnly, e.Revoked, e.Expired, e.Disabled, e.Pending, e.Denied, e.Locked, unknown, "garbage", ""} {
		a, b := httptest.NewRecorder(), httptest.NewRecorder()
		r1 := httptest.NewRequest("GET", "/", nil)
		r2 := httptest.NewRequest("GET", "/", nil)
		if tok != "" {
			r1.Header.Set("Authorization", "Bearer "+tok)
			r2.Header.Set("Authorization", "Bearer "+tok)
		}
		guarded.ServeHTTP(a, r1)
		e.g.ForwardAuth().ServeHTTP(b, r2)
		assert.Equal(t, a.Code, b.Code)
		assert.Equal(t, a.Body.String(), b.Body.String())
		assert.Equal(t, a.Header().Get("WWW-Authenticate"), b.Header().Get("WWW-Authenticate"))
	}
}

// BenchmarkForwardAuthVsGuard times one request through the Guard's
// Handler and one through ForwardAuth in every iteration, with the same
// hot token in a Bearer header (the forward-auth request also carries the
// forwarded URI, as nginx sends it), and reports each side's time and
// their ratio.
func BenchmarkForwardAuthVsGuard(b *testing.B) {
	m, secret := benchEnv(b, 0)
	g := apitoken.NewGuard(m, &apitoken.GuardOptions{Headers: []string{"X-Circonus-Auth-Token"}, QueryToken: true})
	guarded := g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	fa := g.ForwardAuth()
	gr := httptest.NewRequest("GET", "/search", nil)
	gr.Header.Set("Authorization", "Bearer "+secret)
	fr := httptest.NewRequest("GET", "/forward-auth", nil)
	fr.Header.Set("Authorization", "Bearer "+secret)
	fr.Header.Set("X-Original-URI", "/search?from=0&size=10")
	gw, fw := &discardWriter{h: http.Header{}}, &discardWriter{h: http.Header{}}
	var tg, tf time.Duration
	b.ReportAllocs()
	for b.Loop() {
		clear(gw.h)
		t0 := time.Now()
		guarded.ServeHTTP(gw, gr)
		t1 := time.Now()
		clear(fw.h)
		fa.ServeHTTP(fw, fr)
		t2 := time.Now()
		tg += t1.Sub(t0)
		tf += t2.Sub(t1)
	}
	if gw.code != 200 || fw.code != 200 {
		b.Fatalf("status %d and %d", gw.code, fw.code)
	}
	n := float64(b.N)
	b.ReportMetric(float64(tg.Nanoseconds())/n, "guard-ns/op")
	b.ReportMetric(float64(tf.Nanoseconds())/n, "forward-auth-ns/op")
	b.ReportMetric(float64(tf)/float64(tg), "forward-auth/guard")
}
