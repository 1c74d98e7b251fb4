// Package browsertest drives the token management page of examples/server
// in a real browser (Debian's chromium, through chromedp). It is its own
// module so chromedp never enters the library's go.mod.
//
// Without a chromium binary the tests skip with a message; CI sets
// APITOKEN_REQUIRE_BROWSER=1, which makes that a failure. Screenshots of the
// main states, at 1280 and 390 px, light and dark, go to
// $APITOKEN_SCREENSHOTS (default ./screenshots); each is audited with
// axe-core, installed here from npm (`npm ci`, package-lock.json).
package browsertest

import (
	"bytes"
	"context"
	"encoding/base32"
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

	"github.com/apitoken/apitoken/login"
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

// run runs actions within a minute, failing the test with what was being
// done and the page's text at that moment.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var text string
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		chromedp.Run(tctx, chromedp.Evaluate(`location.href + "\n" + document.body.innerText`, &text))
		t.Fatalf("%s: %v\npage: %s", what, err, text)
	}
}

// js evaluates expr in the page into out.
func js(expr string, out any) chromedp.Action { return chromedp.Evaluate(expr, out) }

// totp is the current code of a base32 TOTP secret, offset by steps of 30 s.
func totp(t *testing.T, secret string, steps int) string {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return login.TOTPCode(b, time.Now().Add(time.Duration(steps)*30*time.Second))
}

// TestTokenPageInABrowser walks every flow of the page in Chromium as a
// user would: sign in, create a token as its own step, copy the secret,
// approve an application from the list at the top, confirm retire, rotate
// and promote at the token, filter, search and page through 30 tokens, the
// account area (sessions and "sign out everywhere else", MFA with its QR
// code, the code step, a password change), what a normal user sees, 360 px,
// and forged cross-origin posts. Every main state is shot at 1280 and 390
// px, light and dark, and audited with axe-core.
func TestTokenPageInABrowser(t *testing.T) {
	exe := chrome(t)
	axe := axeSource(t)
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

	shots := &shooter{t: t, dir: os.Getenv("APITOKEN_SCREENSHOTS"), axe: axe}
	if shots.dir == "" {
		shots.dir = "screenshots"
	}
	if err := os.MkdirAll(shots.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() { t.Logf("%d screenshots in %s, %d axe-core audits", len(shots.saved), shots.dir, shots.audits) }()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 8*time.Minute)
	defer cancelTimeout()

	if err := chromedp.Run(ctx); err != nil { // starts the browser, under ctx rather than a step's timeout
		t.Fatal(err)
	}
	run(t, ctx, "granting clipboard access", chromedp.ActionFunc(func(ctx context.Context) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			err := browser.SetPermission(&browser.PermissionDescriptor{Name: name}, browser.PermissionSettingGranted).WithOrigin(base).Do(ctx)
			if err != nil {
				return err
			}
		}
		return nil
	}), chromedp.EmulateViewport(1280, 900))

	// Sign in as the admin: the header says who is signed in.
	var who string
	run(t, ctx, "opening the sign-in page",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#signin"), shots.state("sign-in"))
	run(t, ctx, "signing in",
		chromedp.SendKeys("#name", "admin@example.com"), chromedp.SendKeys("#password", adminPassword),
		chromedp.Click("#signin button"), chromedp.WaitVisible("#tokens-h"), chromedp.Text("#who-name", &who))
	if who != "admin@example.com" {
		t.Fatalf("the header says %q is signed in", who)
	}

	// Create is its own step, read-only preselected, expiries with dates.
	var checkedPriv, expiryLabels, maxDate string
	run(t, ctx, "opening the create step",
		chromedp.Click("#new-token"), chromedp.WaitVisible("#create"),
		js(`document.querySelector('input[name=privilege]:checked').value`, &checkedPriv),
		js(`[...document.querySelectorAll('input[name=expires] + label')].map(l => l.textContent.trim()).join(" | ")`, &expiryLabels),
		js(`document.getElementById("c-expires-on").max`, &maxDate),
		shots.state("create"))
	if checkedPriv != "read-only" {
		t.Fatalf("the create step preselects %q, want read-only", checkedPriv)
	}
	if !strings.Contains(expiryLabels, "90 days — on ") || !strings.Contains(expiryLabels, time.Now().AddDate(0, 0, 90).UTC().Format("Jan 2, 2006")) || maxDate == "" {
		t.Fatalf("expiry choices %q, custom max %q", expiryLabels, maxDate)
	}
	t.Logf("expiry choices: %s; custom date up to %s", expiryLabels, maxDate)

	// A user token whose new apps wait for approval; copy its secret.
	var secret, copied, copyStatus string
	run(t, ctx, "creating a token",
		chromedp.SendKeys("#c-description", "deploy bot"),
		chromedp.Click("#c-privilege-normal"), chromedp.Click("#c-app-pending"),
		chromedp.Click(`#create button[type=submit]`), chromedp.WaitVisible("#secret"),
		chromedp.Value("#secret", &secret))
	run(t, ctx, "copying the secret",
		chromedp.Click("#copy"),
		chromedp.Poll(`document.getElementById("copy-status").textContent === "Copied."`, nil, chromedp.WithPollingTimeout(5*time.Second)),
		chromedp.Text("#copy-status", &copyStatus),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
			return p.WithAwaitPromise(true)
		}),
		shots.state("secret-shown-once"))
	if !strings.HasPrefix(secret, "atk_") || copied != secret {
		t.Fatalf("secret %q, clipboard %q", secret, copied)
	}

	// Used from Go under a new app name: pending, so 401, and the page says
	// so at the top.
	search := map[string]any{"from": 0, "size": 1}
	if status, body := api(t, base, "POST", "/search", secret, "ci-bot", search); status != 401 || !strings.Contains(fmt.Sprint(body), "app_pending") {
		t.Fatalf("a new app under default pending: %d %v, want 401 app_pending", status, body)
	}
	var banner, state string
	run(t, ctx, "seeing the approval request at the top",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(`#approvals li[data-app="ci-bot"]`),
		chromedp.Text("#approvals-h", &banner),
		js(`document.querySelector('tbody.token li[data-app="ci-bot"] .state').textContent`, &state),
		shots.state("approval-waiting"))
	if banner != "1 application is waiting for your approval" || state != "pending" {
		t.Fatalf("banner %q, app state in the table %q", banner, state)
	}
	if strings.Contains(mustOuterHTML(t, ctx), secret) {
		t.Fatal("the secret is shown a second time")
	}
	run(t, ctx, "allowing the app from the banner",
		chromedp.Click(`#approvals button[value=allow]`), chromedp.WaitVisible("#notice"),
		js(`document.querySelector('tbody.token li[data-app="ci-bot"] .state').textContent`, &state))
	var banners int
	run(t, ctx, "checking the banner is gone", js(`document.querySelectorAll("#approvals").length`, &banners))
	if state != "allow" || banners != 0 {
		t.Fatalf("after allow: state %q, %d banners", state, banners)
	}
	if status, body := api(t, base, "POST", "/search", secret, "ci-bot", search); status != 200 {
		t.Fatalf("the allowed app: %d %v, want 200", status, body)
	}

	// A second token with the same description: the retire confirmation
	// appears at the one clicked and names it by its hint.
	status, created := api(t, base, "POST", "/api/key", adminSession, "", map[string]any{"description": "deploy bot", "privilege": "normal"})
	if status != 200 {
		t.Fatalf("creating a twin: %d %v", status, created)
	}
	twin, _ := created["keyId"].(string)
	var twinHint, question, confirmParent string
	run(t, ctx, "asking to retire the twin",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#tokens-h"),
		js(fmt.Sprintf(`document.querySelector("#token-%s .hint").textContent`, twin), &twinHint),
		chromedp.Click(fmt.Sprintf(`#token-%s summary`, twin)),
		chromedp.Click(fmt.Sprintf(`#token-%s .retire`, twin)),
		chromedp.WaitVisible("#confirm"), chromedp.Text("#confirm-q", &question),
		js(`document.getElementById("confirm").closest("tbody").id`, &confirmParent),
		shots.state("confirm-retire-at-the-token"))
	if confirmParent != "token-"+twin || !strings.Contains(question, "deploy bot") || !strings.Contains(question, twinHint) {
		t.Fatalf("confirmation in %q asks %q; want it at token-%s naming %s", confirmParent, question, twin, twinHint)
	}
	var notice string
	run(t, ctx, "retiring it",
		chromedp.Click("#confirm-yes"), chromedp.WaitVisible("#notice"), chromedp.Text("#notice", &notice))
	if !strings.Contains(notice, "retired") || !strings.Contains(notice, twinHint) || !strings.Contains(notice, "Revoked") {
		t.Fatalf("notice after retire: %q", notice)
	}
	var twins int
	run(t, ctx, "counting", js(`document.querySelectorAll("#token-`+twin+`").length`, &twins))
	if twins != 0 {
		t.Fatal("the retired token is still listed")
	}

	// Rotate and promote, each confirmed at the token.
	var first string
	run(t, ctx, "finding the first token", js(`document.querySelector("tbody.token").id.slice(6)`, &first))
	var rotated string
	run(t, ctx, "rotating it",
		chromedp.Click(`#token-`+first+` summary`), chromedp.SetValue(`#g-`+first, "1h"), chromedp.Click(`#token-`+first+` .rotate`),
		chromedp.WaitVisible(`#token-`+first+` #confirm`), chromedp.Text("#confirm-q", &question),
		chromedp.Click("#confirm-yes"), chromedp.WaitVisible("#secret"), chromedp.Value("#secret", &rotated))
	if !strings.Contains(question, "1 hour") || !strings.Contains(question, "deploy bot") || rotated == secret || !strings.HasPrefix(rotated, "atk_") {
		t.Fatalf("rotate asked %q and gave %q", question, rotated)
	}
	var newest, owner string
	run(t, ctx, "finding the new secret's token", js(`document.querySelector("tbody.token").id.slice(6)`, &newest))
	run(t, ctx, "promoting it",
		chromedp.Click(`#token-`+newest+` summary`), chromedp.Click(`#token-`+newest+` .promote`),
		chromedp.WaitVisible(`#token-`+newest+` #confirm`), chromedp.Text("#confirm-q", &question),
		chromedp.Click("#confirm-yes"), chromedp.WaitVisible("#notice"),
		chromedp.Text(`#token-`+newest+` .owner`, &owner))
	if !strings.Contains(question, "account token") || owner != "Account" {
		t.Fatalf("promote asked %q; owner now %q", question, owner)
	}

	// Thirty more tokens: newest first, 25 a page, filters and search.
	for i := range 30 {
		body := map[string]any{"description": fmt.Sprintf("batch job %02d", i), "privilege": "read-only"}
		if i%3 == 0 {
			body["owner"], body["description"] = "account", fmt.Sprintf("nightly export %02d", i)
		}
		if status, out := api(t, base, "POST", "/api/key", adminSession, "", body); status != 200 {
			t.Fatalf("creating token %d: %d %v", i, status, out)
		}
	}
	var rows, olderLinks int
	var firstDesc, lastDesc string
	run(t, ctx, "listing 32 tokens",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#older"),
		js(`document.querySelectorAll("tbody.token").length`, &rows),
		js(`document.querySelector("tbody.token .desc").textContent`, &firstDesc),
		shots.state("token-table"))
	if rows != 25 || firstDesc != "batch job 29" {
		t.Fatalf("the first page has %d rows starting with %q; want 25, newest first", rows, firstDesc)
	}
	run(t, ctx, "the older page",
		chromedp.Click("#older"), chromedp.WaitVisible("#newer"),
		js(`document.querySelectorAll("tbody.token").length`, &rows),
		js(`[...document.querySelectorAll("tbody.token .desc")].pop().textContent`, &lastDesc),
		js(`document.querySelectorAll("#older").length`, &olderLinks))
	if rows != 7 || lastDesc != "deploy bot" || olderLinks != 0 {
		t.Fatalf("the older page: %d rows ending with %q, %d older links", rows, lastDesc, olderLinks)
	}
	var accountRows, otherRows int
	var allNightly bool
	run(t, ctx, "filtering account tokens",
		chromedp.Navigate(base+"/?show=account"),
		chromedp.WaitVisible("#tokens-h"),
		js(`document.querySelectorAll('tbody.token[data-owner="account"]').length`, &accountRows),
		js(`document.querySelectorAll('tbody.token:not([data-owner="account"])').length`, &otherRows))
	if accountRows != 11 || otherRows != 0 {
		t.Fatalf("account filter: %d account, %d other rows", accountRows, otherRows)
	}
	run(t, ctx, "searching",
		chromedp.Navigate(base+"/?show=all"), chromedp.WaitVisible("#q"),
		chromedp.SendKeys("#q", "nightly\r"), chromedp.WaitVisible(`#q[value="nightly"]`),
		js(`document.querySelectorAll('tbody.token').length`, &rows),
		js(`[...document.querySelectorAll("tbody.token .desc")].every(d => d.textContent.includes("nightly"))`, &allNightly))
	if rows != 10 || !allNightly {
		t.Fatalf("a search for nightly shows %d rows, want 10", rows)
	}

	// The account area: sessions, then sign out everywhere else (the API
	// session ends), then MFA with its QR code.
	var sessions int
	run(t, ctx, "opening the account area",
		chromedp.Navigate(base+"/account"), chromedp.WaitVisible("#sessions-h"),
		js(`document.querySelectorAll("#sessions .session").length`, &sessions),
		shots.state("account"))
	if sessions != 2 {
		t.Fatalf("the account area lists %d sessions, want 2 (this browser and the API's)", sessions)
	}
	run(t, ctx, "signing out everywhere else",
		chromedp.Click("#end-others button"), chromedp.WaitVisible("#notice"),
		js(`document.querySelectorAll("#sessions .session").length`, &sessions))
	if status, _ := api(t, base, "GET", "/ping", adminSession, "", nil); status != 401 || sessions != 1 {
		t.Fatalf("after signing out everywhere else: the API session answers %d, %d sessions listed", status, sessions)
	}
	var mfaSecret string
	var qrModules int
	run(t, ctx, "enrolling MFA",
		chromedp.Click("#mfa-enrol button"), chromedp.WaitVisible("#enrol"),
		chromedp.Value("#mfa-secret", &mfaSecret),
		js(`document.querySelectorAll("svg.qr path").length`, &qrModules),
		shots.state("mfa-enrol-qr"))
	if mfaSecret == "" || qrModules != 1 {
		t.Fatalf("enrolment: secret %q, %d QR paths", mfaSecret, qrModules)
	}
	run(t, ctx, "confirming MFA",
		chromedp.SendKeys("#mfa-code", totp(t, mfaSecret, 0)), chromedp.Click("#mfa-confirm button"),
		chromedp.WaitVisible("#notice"), chromedp.Text("#notice", &notice))
	if !strings.Contains(notice, "Two-factor authentication is on") {
		t.Fatalf("after confirming: %q", notice)
	}
	run(t, ctx, "signing in again, with a code",
		chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#signin"),
		chromedp.SendKeys("#name", "admin@example.com"), chromedp.SendKeys("#password", adminPassword),
		chromedp.Click("#signin button"), chromedp.WaitVisible("#unlock"), shots.state("mfa-code-step"),
		chromedp.SendKeys("#code", totp(t, mfaSecret, 1)), chromedp.Click("#unlock button"),
		chromedp.WaitVisible("#tokens-h"))

	// A normal user, signed in by keyboard alone, sees no account token,
	// promote button or owner choice, and changes their password.
	var accountTokens, promoteButtons, ownerChoices int
	run(t, ctx, "signing in as a normal user by keyboard",
		chromedp.Click(`form[action="/logout"] button`), chromedp.WaitVisible("#signin"),
		chromedp.Focus("#name"), chromedp.KeyEvent("dev@example.com\tdev password\r"),
		chromedp.WaitVisible("#tokens-h"),
		js(`document.querySelectorAll('tbody[data-owner="account"]').length`, &accountTokens),
		js(`document.querySelectorAll('.promote').length`, &promoteButtons),
		chromedp.Navigate(base+"/new"), chromedp.WaitVisible("#create"),
		js(`document.querySelectorAll('input[name=owner], input[value=admin]').length`, &ownerChoices))
	if accountTokens != 0 || promoteButtons != 0 || ownerChoices != 0 {
		t.Fatalf("a normal user sees %d account tokens, %d promote buttons, %d owner or admin choices", accountTokens, promoteButtons, ownerChoices)
	}
	var unlabelled []string
	run(t, ctx, "checking labels",
		chromedp.Evaluate(`[...document.querySelectorAll('input:not([type=hidden]), select, button')]
			.filter(e => e.labels ? (e.labels.length === 0 && !e.getAttribute('aria-label') && !e.textContent.trim()) : false)
			.map(e => e.outerHTML)`, &unlabelled))
	if len(unlabelled) != 0 {
		t.Fatalf("controls without a label: %v", unlabelled)
	}
	run(t, ctx, "creating a token as the normal user",
		chromedp.SendKeys("#c-description", "nightly backup job, with a description long enough to wrap"),
		chromedp.Click("#c-exp-custom"), chromedp.SetValue("#c-expires-on", time.Now().AddDate(0, 0, 10).Format("2006-01-02")),
		chromedp.Click(`#create button[type=submit]`), chromedp.WaitVisible("#secret"))
	var expiresTitle string
	run(t, ctx, "reading its expiry",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible("#tokens-h"),
		js(`document.querySelector("tbody.token td[data-label=Expires] time").title`, &expiresTitle))
	if want := time.Now().AddDate(0, 0, 11).UTC().Format("2006-01-02"); !strings.HasPrefix(expiresTitle, want) {
		t.Fatalf("a custom date 10 days ahead expires at %q, want the end of that day (%s 00:00 UTC)", expiresTitle, want)
	}
	run(t, ctx, "changing the password",
		chromedp.Navigate(base+"/account"), chromedp.WaitVisible("#password-form"),
		chromedp.SendKeys("#current-password", "dev password"), chromedp.SendKeys("#new-password", "a new dev password"),
		chromedp.SendKeys("#repeat-password", "a new dev password"), chromedp.Click("#password-form button"),
		chromedp.WaitVisible("#notice"), chromedp.Text("#notice", &notice))
	if !strings.Contains(notice, "Password changed") {
		t.Fatalf("after a password change: %q", notice)
	}
	if status, _ := api(t, base, "POST", "/login", "", "", map[string]any{"name": "dev@example.com", "password": "a new dev password"}); status != 200 {
		t.Fatalf("login with the new password: %d", status)
	}

	// Usable at 360 px: nothing wider than the screen.
	for _, path := range []string{"/", "/new", "/account"} {
		var scrollWidth int
		run(t, ctx, "narrowing to 360 px",
			chromedp.EmulateViewport(360, 780), chromedp.Navigate(base+path), chromedp.WaitVisible("main"),
			chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollWidth))
		if scrollWidth > 360 {
			t.Fatalf("at 360 px %s is %d px wide", path, scrollWidth)
		}
	}
	run(t, ctx, "back to desktop width", chromedp.EmulateViewport(1280, 900))

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
	// Origin: refused by CrossOriginProtection, not only by SameSite; and
	// so is a forged "sign out everywhere else".
	var cookies []*network.Cookie
	run(t, ctx, "reading the session cookie", chromedp.ActionFunc(func(ctx context.Context) error {
		var err error
		cookies, err = network.GetCookies().WithURLs([]string{base}).Do(ctx)
		return err
	}))
	if len(cookies) != 1 || !cookies[0].HTTPOnly || cookies[0].SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie: %+v", cookies)
	}
	for _, path := range []string{"/tokens", "/account/sessions/end-others", "/account/password"} {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader("description=forged+directly&current_password=a+new+dev+password&new_password=forged+pw+123&repeat_password=forged+pw+123"))
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
			t.Fatalf("a cross-origin POST %s with the session cookie: %d, want 403", path, resp.StatusCode)
		}
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
