package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken/storetest"
)

// requireProxiesEnv makes a missing nginx or Caddy a failure (CI sets it).
const requireProxiesEnv = "APITOKEN_REQUIRE_PROXIES"

// upstream is the service the proxies protect: it records every request
// it gets.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		io.WriteString(w, "upstream says hello")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// take returns and forgets the requests seen so far.
func (u *upstream) take() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

// freePort returns a loopback port nothing listens on (for a moment).
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// program finds a Debian program, in PATH or /usr/sbin.
func program(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// startProxy runs cmd (logging into dir) until the test ends and waits
// until it accepts connections on 127.0.0.1:port.
func startProxy(t *testing.T, dir string, port int, cmd *exec.Cmd) {
	t.Helper()
	logPath := filepath.Join(dir, "proxy.out")
	out, err := os.Create(logPath)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		out.Close()
	})
	logs := func() string {
		b, _ := os.ReadFile(logPath)
		e, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return string(b) + string(e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited: %v\n%s", filepath.Base(cmd.Path), err, logs())
		default:
		}
		if c, err := net.DialTimeout("tcp", fmt.Sprint("127.0.0.1:", port), time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d\n%s", filepath.Base(cmd.Path), port, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// identityHeaders are what forward authentication hands the upstream.
var identityHeaders = []string{"X-Auth-Account", "X-Auth-User", "X-Auth-Token-Id", "X-Auth-Privilege", "X-Auth-App"}

// startNginx runs Debian's nginx on a loopback port with auth_request to
// the example server's forward-auth route, in front of up.
func startNginx(t *testing.T, auth string, up *upstream) string {
	bin, ok := program("nginx")
	if !ok {
		storetest.SkipUnlessRequired(t, requireProxiesEnv, "nginx is not installed (apt-get install nginx): the nginx auth_request test did not run")
	}
	dir := t.TempDir()
	port := freePort(t)
	var sets, headers strings.Builder
	for _, h := range append(identityHeaders, "X-Auth-Request-Uri") {
		v := "$auth_" + strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(h, "X-Auth-")), "-", "_")
		fmt.Fprintf(&sets, "\t\t\tauth_request_set %s $upstream_http_%s;\n", v, strings.ReplaceAll(strings.ToLower(h), "-", "_"))
		if h == "X-Auth-Request-Uri" {
			v = `""` // for proxy_pass below, not for the upstream
		}
		// Overwrites whatever the client sent; an empty value sends none.
		fmt.Fprintf(&headers, "\t\t\tproxy_set_header %s %s;\n", h, v)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers may then read the temporary directory
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 64; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen 127.0.0.1:%[3]d;
		location = /_auth {
			internal;
			proxy_pass http://%[4]s/api/v1/forward-auth;
			proxy_method GET;
			proxy_pass_request_body off;
			proxy_set_header Content-Length "";
			proxy_set_header X-Original-URI $request_uri;
		}
		location / {
			auth_request /_auth;
%[5]s%[6]s			proxy_set_header X-Auth-Request-Query "";
			proxy_set_header Authorization "";
			proxy_set_header X-Circonus-Auth-Token "";
			# The URI without its token parameter, never the client's.
			proxy_pass http://%[7]s$auth_request_uri;
		}
	}
}
`, user, dir, port, auth, sets.String(), headers.String(), up.srv.Listener.Addr())
	confPath := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))
	startProxy(t, dir, port, exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"))
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// startCaddy runs Debian's Caddy on a loopback port with forward_auth to
// the example server's forward-auth route, in front of up.
func startCaddy(t *testing.T, auth string, up *upstream) string {
	bin, ok := program("caddy")
	if !ok {
		storetest.SkipUnlessRequired(t, requireProxiesEnv, "caddy is not installed (apt-get install caddy): the Caddy forward_auth test did not run")
	}
	dir := t.TempDir()
	port := freePort(t)
	var strip strings.Builder
	for _, h := range append(identityHeaders, "X-Auth-Request-Uri", "X-Auth-Request-Query") {
		// forward_auth copies only the headers the answer has: drop any
		// the client sent first.
		fmt.Fprintf(&strip, "\t\trequest_header -%s\n", h)
	}
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%[1]d {
	bind 127.0.0.1
	route {
%[2]s		forward_auth %[3]s {
			uri /api/v1/forward-auth
			copy_headers %[4]s X-Auth-Request-Query
		}
		request_header -Authorization
		request_header -X-Circonus-Auth-Token
		# The query without its token parameter, never the client's. The
		# trailing ? makes the rewrite replace the query (Caddy 2.6); the
		# path is Caddy's own.
		rewrite * {http.request.uri.path}{http.request.header.X-Auth-Request-Query}?
		request_header -X-Auth-Request-Uri
		request_header -X-Auth-Request-Query
		reverse_proxy %[5]s
	}
}
`, port, strip.String(), auth, strings.Join(identityHeaders, " "), up.srv.Listener.Addr())
	confPath := filepath.Join(dir, "Caddyfile")
	require.NoError(t, os.WriteFile(confPath, []byte(conf), 0o600))
	cmd := exec.Command(bin, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	startProxy(t, dir, port, cmd)
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// TestReverseProxiesForwardAuth puts Debian's nginx (auth_request) and
// Caddy (forward_auth) in front of an upstream, both asking the example
// server's /api/v1/forward-auth, and sends allowed, missing, revoked,
// app-pending and denied requests through each. The upstream gets only
// the allowed ones, with the identity headers, and never a token: not in
// its URL, not in a header.
func TestReverseProxiesForwardAuth(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	live, liveID := ts.createKey(admin, map[string]any{"description": "behind a proxy"})
	revoked, revokedID := ts.createKey(admin, map[string]any{})
	require.Equal(t, 204, ts.as(admin, "DELETE", "/api/v1/api/key/"+revokedID, nil).status)
	pending, _ := ts.createKey(admin, map[string]any{"defaultAppState": "pending"})
	denied, _ := ts.createKey(admin, map[string]any{"defaultAppState": "deny"})
	account, accountID := ts.createKey(admin, map[string]any{"owner": "account", "privilege": "read-only"})
	adminID := ts.as(admin, "GET", "/api/v1/users", nil).json(t)["results"].([]any)[0].(map[string]any)["id"].(string)
	secrets := []string{live, revoked, pending, denied, account, admin}
	auth := strings.TrimPrefix(ts.srv.URL, "http://")

	for _, proxy := range []struct {
		name  string
		start func(*testing.T, string, *upstream) string
		// bodies: whether the proxy passes the refusal's body on (Caddy
		// does; nginx answers its own page with the same status).
		bodies bool
	}{
		{"nginx", startNginx, false},
		{"caddy", startCaddy, true},
	} {
		t.Run(proxy.name, func(t *testing.T) {
			up := newUpstream(t)
			base := proxy.start(t, auth, up)
			for _, tc := range []struct {
				name    string
				path    string
				headers map[string]string
				status  int
				code    string
				// what the upstream must see when allowed
				uri, tokenID, user, privilege, app string
			}{
				{name: "a Bearer token is allowed", path: "/docs/1?x=1",
					headers: map[string]string{"Authorization": "Bearer " + live},
					status:  200, uri: "/docs/1?x=1", tokenID: liveID, user: adminID, privilege: "admin", app: "default"},
				{name: "a query token is allowed and stays out of the upstream's URL", path: "/docs/1?a=1&token=" + url.QueryEscape(live) + "&b=2",
					status: 200, uri: "/docs/1?a=1&b=2", tokenID: liveID, user: adminID, privilege: "admin", app: "default"},
				{name: "braces in the URI reach the upstream encoded, never expanded", path: "/docs/%7Bx%7D?q=%7Benv.HOME%7D&token=" + live,
					status: 200, uri: "/docs/%7Bx%7D?q=%7Benv.HOME%7D", tokenID: liveID, user: adminID, privilege: "admin", app: "default"},
				{name: "a query token alone leaves no query", path: "/docs/2?token=" + live,
					status: 200, uri: "/docs/2", tokenID: liveID, user: adminID, privilege: "admin", app: "default"},
				{name: "the Circonus header and app name are allowed", path: "/docs/3",
					headers: map[string]string{"X-Circonus-Auth-Token": live, "X-Circonus-App-Name": "grafana"},
					status:  200, uri: "/docs/3", tokenID: liveID, user: adminID, privilege: "admin", app: "grafana"},
				{name: "a POST is allowed", path: "/docs",
					headers: map[string]string{"Authorization": "Bearer " + live, "Content-Type": "application/json"},
					status:  200, uri: "/docs", tokenID: liveID, user: adminID, privilege: "admin", app: "default"},
				{name: "identity headers the client sends are replaced", path: "/docs/4",
					headers: map[string]string{"Authorization": "Bearer " + account, "X-Auth-User": "someone-else", "X-Auth-Privilege": "admin", "X-Auth-Request-Uri": "/admin", "X-Auth-Request-Query": "?token=x"},
					status:  200, uri: "/docs/4", tokenID: accountID, user: "", privilege: "read-only", app: "default"},
				{name: "a session is allowed", path: "/docs/5",
					headers: map[string]string{"Authorization": "Bearer " + admin},
					status:  200, uri: "/docs/5", user: adminID, privilege: "admin"},
				{name: "a missing token is refused", path: "/docs/1", status: 401, code: "invalid_token"},
				{name: "a revoked token is refused", path: "/docs/1", headers: map[string]string{"Authorization": "Bearer " + revoked}, status: 401, code: "invalid_token"},
				{name: "a revoked query token is refused", path: "/docs/1?token=" + revoked, status: 401, code: "invalid_token"},
				{name: "an app pending approval is refused", path: "/docs/1", headers: map[string]string{"X-Circonus-Auth-Token": pending, "X-Circonus-App-Name": "grafana"}, status: 401, code: "app_pending"},
				{name: "a denied app is refused", path: "/docs/1", headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("collector:"+denied))}, status: 403, code: "app_denied"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					method, body := "GET", io.Reader(nil)
					if strings.HasPrefix(tc.name, "a POST") {
						method, body = "POST", strings.NewReader(`{"title":"x"}`)
					}
					req, err := http.NewRequest(method, base+tc.path, body)
					require.NoError(t, err)
					for k, v := range tc.headers {
						req.Header.Set(k, v)
					}
					resp, err := http.DefaultClient.Do(req)
					require.NoError(t, err)
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					seen := up.take()
					require.Equal(t, tc.status, resp.StatusCode, string(b))
					for _, s := range secrets {
						assert.NotContains(t, string(b), s, "the answer holds a token")
					}
					if tc.status != 200 {
						assert.Empty(t, seen, "a refused request reached the upstream")
						if proxy.bodies {
							assert.Contains(t, string(b), `"code":"`+tc.code+`"`)
						}
						return
					}
					assert.Equal(t, "upstream says hello", string(b))
					require.Len(t, seen, 1)
					r := seen[0]
					assert.Equal(t, method, r.Method)
					assert.Equal(t, tc.uri, r.RequestURI, "%v", r.Header)
					want := map[string]string{"X-Auth-Account": "default", "X-Auth-User": tc.user, "X-Auth-Token-Id": tc.tokenID,
						"X-Auth-Privilege": tc.privilege, "X-Auth-App": tc.app}
					if tc.tokenID == "" { // a session: its ID is whatever the login made
						delete(want, "X-Auth-Token-Id")
						assert.NotEmpty(t, r.Header.Get("X-Auth-Token-Id"))
					}
					for h, v := range want {
						assert.Equal(t, v, r.Header.Get(h), h)
					}
					assert.Empty(t, r.Header.Get("X-Auth-Request-Uri"))
					assert.Empty(t, r.Header.Get("X-Auth-Request-Query"))
					for _, s := range secrets {
						assert.NotContains(t, r.RequestURI, s, "a token reached the upstream in its URL")
						for k, vs := range r.Header {
							for _, v := range vs {
								assert.NotContains(t, v, s, "a token reached the upstream in %s", k)
							}
						}
					}
				})
			}
		})
	}
}
