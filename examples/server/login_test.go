package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// handlerServer is the server's handler, called in process so that each
// request can come from any RemoteAddr.
type handlerServer struct {
	t   *testing.T
	app *server
	h   http.Handler
}

func startHandler(t *testing.T, tune func(*config)) *handlerServer {
	t.Helper()
	dir := t.TempDir()
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10}
	if tune != nil {
		tune(&c)
	}
	app, err := open(context.Background(), c, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	t.Cleanup(app.close)
	return &handlerServer{t: t, app: app, h: app.routes()}
}

// login posts a login from remote ("ip:port") with extra headers.
func (hs *handlerServer) login(remote, password string, headers ...string) *httptest.ResponseRecorder {
	hs.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": "admin@example.com", "password": password})
	r := httptest.NewRequest("POST", "/api/v1/login", bytes.NewReader(body))
	r.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	hs.h.ServeHTTP(w, r)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var b struct{ Error apitoken.HTTPError }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &b), w.Body.String())
	return b.Error.Code
}

// TestFailuresFromOneAddressDoNotLockOutTheOwner: 15 wrong passwords from
// 127.0.0.2 throttle that address from the 11th on, and the owner still
// logs in from 127.0.0.3.
func TestFailuresFromOneAddressDoNotLockOutTheOwner(t *testing.T) {
	hs := startHandler(t, nil)
	for i := 1; i <= 15; i++ {
		w := hs.login("127.0.0.2:40000", "not the password")
		if i <= 10 {
			require.Equal(t, 401, w.Code, "failure %d", i)
			assert.Equal(t, "invalid_credentials", errorCode(t, w))
		} else {
			require.Equal(t, 429, w.Code, "failure %d", i)
			assert.Equal(t, "throttled", errorCode(t, w))
		}
	}
	w := hs.login("127.0.0.3:40000", adminPassword)
	require.Equal(t, 200, w.Code, w.Body.String())
	assert.Equal(t, 429, hs.login("127.0.0.2:40001", adminPassword).Code, "the throttled address stays throttled, even with the right password")
}

// TestTheNameCeilingEventuallyBlocksEveryAddress: with a ceiling of 12
// failures per name, failures spread over addresses (none throttled on
// its own) end by refusing the owner everywhere until the window ends.
func TestTheNameCeilingEventuallyBlocksEveryAddress(t *testing.T) {
	hs := startHandler(t, func(c *config) {
		c.sessions = login.Options{MaxLoginFailuresPerName: 12, LoginFailureWindow: time.Hour}
	})
	for i := range 12 {
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(1 + i/4)}), 40000).String()
		require.Equal(t, 401, hs.login(remote, "not the password").Code, "failure %d", i+1)
	}
	for _, remote := range []string{"127.0.0.3:40000", "127.0.9.9:1", "[::1]:40000"} {
		w := hs.login(remote, adminPassword)
		assert.Equal(t, 429, w.Code, "the owner from %s past the ceiling", remote)
		assert.Equal(t, "throttled", errorCode(t, w))
	}
}

// TestTrustedProxiesGiveTheClientAddress: behind a trusted proxy the
// throttle keys on X-Forwarded-For's client; without -trusted-proxies the
// header is ignored, so a client cannot dodge its address's count by
// sending one.
func TestTrustedProxiesGiveTheClientAddress(t *testing.T) {
	proxies, err := parseCIDRs("127.0.0.0/8, ::1")
	require.NoError(t, err)
	behind := startHandler(t, func(c *config) { c.trustedProxies = proxies })
	for range 10 {
		require.Equal(t, 401, behind.login("127.0.0.1:1", "not the password", "X-Forwarded-For", "203.0.113.5").Code)
	}
	assert.Equal(t, 429, behind.login("127.0.0.1:1", adminPassword, "X-Forwarded-For", "203.0.113.5").Code)
	assert.Equal(t, 429, behind.login("127.0.0.1:1", adminPassword, "X-Forwarded-For", "198.51.100.1, 203.0.113.5").Code,
		"a client-written entry left of the proxy's does not change the address")
	assert.Equal(t, 200, behind.login("127.0.0.1:1", adminPassword, "X-Forwarded-For", "203.0.113.6").Code)

	direct := startHandler(t, nil)
	for i := range 10 {
		require.Equal(t, 401, direct.login("127.0.0.1:1", "not the password", "X-Forwarded-For", "203.0.113."+string(rune('0'+i))).Code)
	}
	assert.Equal(t, 429, direct.login("127.0.0.1:1", adminPassword, "X-Forwarded-For", "203.0.113.99").Code,
		"an untrusted peer chose its address with the header")
}

func TestParseCIDRs(t *testing.T) {
	ps, err := parseCIDRs("10.0.0.0/8, 192.168.1.7,fd00::/8,::1 ,")
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::1/128"),
	}, ps)
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0/8"} {
		_, err := parseCIDRs(bad)
		assert.Error(t, err, bad)
	}
}

func TestBusyAnswersCarryRetryAfter(t *testing.T) {
	s := &server{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := httptest.NewRecorder()
	s.writeErr(w, httptest.NewRequest("POST", "/api/v1/login", nil), login.ErrBusy)
	assert.Equal(t, 503, w.Code)
	assert.Equal(t, "busy", errorCode(t, w))
	assert.Equal(t, "1", w.Header().Get("Retry-After"))
}
