// Package browsertest drives the token management page of examples/server
// in a real browser (Debian's chromium, through chromedp). It is its own
// module so chromedp never enters the library's go.mod.
//
// Without a chromium binary the tests skip with a message; CI sets
// APITOKEN_REQUIRE_BROWSER=1, which makes that a failure. Screenshots of the
// main states go to $APITOKEN_SCREENSHOTS (default ./screenshots).
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/apitoken/apitoken/storetest"
)

const adminPassword = "browser admin password"

// chrome returns the browser binary or skips.
func chrome(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("APITOKEN_CHROME"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium: install Debian's chromium (or set APITOKEN_CHROME) to run the browser tests"
	storetest.SkipUnlessRequired(t, "APITOKEN_REQUIRE_BROWSER", msg)
	return ""
}

// startServer builds and runs examples/server on a fresh bbolt file and a
// free loopback port, and returns its base URL.
func startServer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "server")
	build := exec.Command("go", "build", "-o", bin, "github.com/apitoken/apitoken/examples/server")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the server: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "-addr", addr, "-db", filepath.Join(dir, "apitoken.db"))
	cmd.Env = append(os.Environ(), "APITOKEN_ADMIN_PASSWORD="+adminPassword)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("server output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer within 30 s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// api calls the server's JSON API and returns the status and decoded body.
func api(t *testing.T, base, method, path, token, app string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+"/api/v1"+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Circonus-Auth-Token", token)
	}
	if app != "" {
		req.Header.Set("X-Circonus-App-Name", app)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// shooter saves numbered screenshots of the main states.
type shooter struct {
	t   *testing.T
	dir string
	n   int
}

func (s *shooter) shot(name string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var png []byte
		if err := chromedp.FullScreenshot(&png, 100).Do(ctx); err != nil {
			return err
		}
		s.n++
		path := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
		s.t.Logf("screenshot %s", path)
		return os.WriteFile(path, png, 0o644)
	})
}

// run runs actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestTokenPageInABrowser(t *testing.T) {
	exe := chrome(t)
	base := startServer(t)

	// A normal user, created through the API by the admin.
	status, login := api(t, base, "POST", "/login", "", "", map[string]any{"name": "admin@example.com", "password": adminPassword, "returnToken": true})
	if status != 200 {
		t.Fatalf("admin login: %d %v", status, login)
	}
	adminSession, _ := login["token"].(string)
	if status, body := api(t, base, "POST", "/users", adminSession, "", map[string]any{"name": "dev@example.com", "password": "dev password", "privilege": "normal"}); status != 201 {
		t.Fatalf("creating the normal user: %d %v", status, body)
	}

	shots := &shooter{t: t, dir: os.Getenv("APITOKEN_SCREENSHOTS")}
	if shots.dir == "" {
		shots.dir = "screenshots"
	}
	if err := os.MkdirAll(shots.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1100, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	run(t, ctx, "granting clipboard access", chromedp.ActionFunc(func(ctx context.Context) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			err := browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingGranted).WithOrigin(base).Do(ctx)
			if err != nil {
				return err
			}
		}
		return nil
	}))

	// Sign in as the admin.
	run(t, ctx, "opening the sign-in page",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#signin"), shots.shot("sign-in"))
	run(t, ctx, "signing in",
		chromedp.SendKeys("#name", "admin@example.com"), chromedp.SendKeys("#password", adminPassword),
		chromedp.Click("#signin button"), chromedp.WaitVisible("#tokens-h"), shots.shot("signed-in-no-tokens"))

	// Create a user token whose new apps start pending, and copy it.
	var secret, copied, status2 string
	run(t, ctx, "creating a token",
		chromedp.SendKeys("#c-description", "deploy bot"),
		chromedp.SetValue("#c-privilege", "normal"), chromedp.SetValue("#c-app-state", "pending"),
		chromedp.Click("#create button"), chromedp.WaitVisible("#secret"),
		chromedp.Value("#secret", &secret))
	run(t, ctx, "copying the secret",
		chromedp.Click("#copy"),
		chromedp.Poll(`document.getElementById("copy-status").textContent === "Copied."`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#copy-status", &status2),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
		shots.shot("secret-shown-once"))
	if !strings.HasPrefix(secret, "atk_") || copied != secret {
		t.Fatalf("secret %q, clipboard %q", secret, copied)
	}
	t.Logf("copied the new secret to the clipboard (%s)", status2)

	// Use it from Go with a new app name: pending, so 401.
	search := map[string]any{"from": 0, "size": 1}
	if status, body := api(t, base, "POST", "/search", secret, "ci-bot", search); status != 401 || !strings.Contains(fmt.Sprint(body), "app_pending") {
		t.Fatalf("a new app under default pending: %d %v, want 401 app_pending", status, body)
	}

	// The app appears under the token; allow it.
	var state string
	run(t, ctx, "seeing the app appear",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(`li[data-app="ci-bot"]`),
		chromedp.Text(`li[data-app="ci-bot"] .state`, &state), shots.shot("app-pending"))
	if state != "pending" {
		t.Fatalf("app state on the page %q, want pending", state)
	}
	if strings.Contains(mustOuterHTML(t, ctx), secret) {
		t.Fatal("the secret is shown a second time")
	}
	run(t, ctx, "allowing the app",
		chromedp.Click(`button[aria-label="Allow ci-bot"]`), chromedp.WaitVisible("#notice"),
		chromedp.Text(`li[data-app="ci-bot"] .state`, &state), shots.shot("app-allowed"))
	if state != "allow" {
		t.Fatalf("app state after allow %q", state)
	}
	if status, body := api(t, base, "POST", "/search", secret, "ci-bot", search); status != 200 {
		t.Fatalf("the allowed app: %d %v, want 200", status, body)
	}

	// Retire it, through the confirmation.
	var notice string
	run(t, ctx, "retiring the token",
		chromedp.Click(`article.token details summary`), chromedp.Click(`article.token .retire`),
		chromedp.WaitVisible("#confirm"), shots.shot("confirm-retire"),
		chromedp.Click("#confirm-yes"), chromedp.WaitVisible("#notice"), chromedp.Text("#notice", &notice),
		chromedp.WaitVisible("#no-tokens"))
	if !strings.Contains(notice, "retired") {
		t.Fatalf("notice after retire: %q", notice)
	}
	if status, _ := api(t, base, "POST", "/search", secret, "ci-bot", search); status != 401 {
		t.Fatalf("the retired token: %d, want 401", status)
	}

	// An account token, then a normal user who must not see it.
	run(t, ctx, "creating an account token",
		chromedp.SendKeys("#c-description", "account-wide"), chromedp.SetValue("#c-owner", "account"),
		chromedp.Click("#create button"), chromedp.WaitVisible("#secret"),
		chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#signin"))
	// Signed in by keyboard alone: type, Tab, type, Enter.
	var accountTokens, promoteButtons, ownerChoices int
	run(t, ctx, "signing in as a normal user by keyboard",
		chromedp.Focus("#name"), chromedp.KeyEvent("dev@example.com\tdev password\r"),
		chromedp.WaitVisible("#tokens-h"),
		chromedp.Evaluate(`document.querySelectorAll('article[data-owner="account"]').length`, &accountTokens),
		chromedp.Evaluate(`document.querySelectorAll('.promote').length`, &promoteButtons),
		chromedp.Evaluate(`document.querySelectorAll('#c-owner').length`, &ownerChoices),
		shots.shot("normal-user"))
	if accountTokens != 0 || promoteButtons != 0 || ownerChoices != 0 {
		t.Fatalf("a normal user sees %d account tokens, %d promote buttons, %d owner choices", accountTokens, promoteButtons, ownerChoices)
	}
	var unlabelled []string
	run(t, ctx, "checking labels",
		chromedp.Evaluate(`[...document.querySelectorAll('input:not([type=hidden]), select, button')]
			.filter(e => e.labels ? (e.labels.length === 0 && !e.getAttribute('aria-label') && !e.textContent.trim()) : false)
			.map(e => e.outerHTML)`, &unlabelled))
	if len(unlabelled) != 0 {
		t.Fatalf("controls without a label: %v", unlabelled)
	}

	// Readable at 360 px: nothing wider than the screen, a token included.
	var scrollWidth int
	run(t, ctx, "creating a token as the normal user",
		chromedp.SendKeys("#c-description", "nightly backup job, with a description long enough to wrap"),
		chromedp.Click("#create button"), chromedp.WaitVisible("#secret"))
	run(t, ctx, "narrowing to 360 px",
		chromedp.EmulateViewport(360, 780), chromedp.Navigate(base+"/"), chromedp.WaitVisible("#tokens-h"),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth), shots.shot("narrow-360px"))
	if scrollWidth > 360 {
		t.Fatalf("at 360 px the page is %d px wide", scrollWidth)
	}
	run(t, ctx, "back to desktop width", chromedp.EmulateViewport(1100, 900))

	// A forged form on another origin, submitted by the signed-in browser.
	var forged atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forged.Add(1)
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/tokens">
			<input name="description" value="forged by evil"><input name="privilege" value="normal"></form>
			<script>document.getElementById("f").submit()</script>`, base)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site, not only another port
	var landed string
	run(t, ctx, "visiting the forging page",
		chromedp.Navigate(evilURL), chromedp.Sleep(time.Second), chromedp.Location(&landed))
	if forged.Load() == 0 {
		t.Fatal("the forging page was never served")
	}
	var html string
	run(t, ctx, "checking nothing changed",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#tokens-h"), chromedp.OuterHTML("html", &html))
	if strings.Contains(html, "forged by evil") {
		t.Fatal("a forged cross-origin form created a token")
	}
	t.Logf("the forged form was posted from %s and changed nothing (browser ended at %s)", evilURL, landed)

	// The same post made directly with the session cookie and a foreign
	// Origin: refused by CrossOriginProtection, not only by SameSite.
	var cookies []*network.Cookie
	run(t, ctx, "reading the session cookie", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{base}).Do(ctx)
		return err
	}))
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie: %+v", cookies)
	}
	req, _ := http.NewRequest("POST", base+"/tokens", strings.NewReader("description=forged+directly"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.AddCookie(&http.Cookie{Name: cookies[0].Name, Value: cookies[0].Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-origin POST with the session cookie: %d, want 403", resp.StatusCode)
	}
	run(t, ctx, "checking again", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#tokens-h"), chromedp.OuterHTML("html", &html))
	if strings.Contains(html, "forged directly") {
		t.Fatal("the cross-origin POST created a token")
	}
}

func mustOuterHTML(t *testing.T, ctx context.Context) string {
	t.Helper()
	var html string
	run(t, ctx, "reading the page", chromedp.OuterHTML("html", &html))
	return html
}
