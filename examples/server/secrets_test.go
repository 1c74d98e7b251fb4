package main

import (
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
)

func TestRedactPathFindsTokensNextToAnyCharacter(t *testing.T) {
	tok, err := (apitoken.Format{}).Generate(apitoken.KindAPI)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := (apitoken.Format{}).Generate(apitoken.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	typo := tok[:len(tok)-1] + "a"
	if typo == tok {
		typo = tok[:len(tok)-1] + "b"
	}
	for _, tc := range []struct{ name, in, want string }{
		{"no token", "/api/v1/api/key", "/api/v1/api/key"},
		{"an ID", "/api/v1/api/key/0VcdABCDefgh1234", "/api/v1/api/key/0VcdABCDefgh1234"},
		{"a token", "/api/v1/api/key/" + tok, "/api/v1/api/key/[token]"},
		{"a session token", "/api/v1/api/key/" + sess, "/api/v1/api/key/[token]"},
		{"after a letter", "/api/v1/api/key/x" + tok, "/api/v1/api/key/x[token]"},
		{"after an underscore", "/api/v1/api/key/_" + tok, "/api/v1/api/key/_[token]"},
		{"before a letter", "/api/v1/api/key/" + tok + "x", "/api/v1/api/key/[token]"},
		{"before an underscore", "/api/v1/api/key/" + tok + "_", "/api/v1/api/key/[token]_"},
		{"glued both sides", "/api/v1/api/key/Z" + tok + "9/apps/a", "/api/v1/api/key/Z[token]/apps/a"},
		{"a wrong checksum", "/api/v1/api/key/" + typo, "/api/v1/api/key/[token]"},
		{"in an app name", "/api/v1/api/key/0VcdABCDefgh1234/apps/ci" + tok, "/api/v1/api/key/0VcdABCDefgh1234/apps/ci[token]"},
		{"two back to back", "/" + tok + sess, "/[token][token]"},
		{"a prefix alone", "/api/v1/api/key/atk_", "/api/v1/api/key/atk_"},
	} {
		if got := redactPath(tc.in); got != tc.want {
			t.Errorf("%s: redactPath(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// The access log never holds a token, whatever is glued to it, and a
// description holding one is refused with 400 and logged nowhere.
func TestTokensInPathsAndDescriptionsStayOutOfLogs(t *testing.T) {
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	secret, _ := ts.createKey(admin, map[string]any{"description": "ci"})
	for _, path := range []string{"/api/v1/api/key/x" + secret, "/api/v1/api/key/" + secret + "_x"} {
		if r := ts.as(admin, "DELETE", path, nil); r.status != 404 && r.status != 400 {
			t.Errorf("DELETE %s: %d %s", path, r.status, r.body)
		}
	}
	r := ts.as(admin, "POST", "/api/v1/api/key", map[string]any{"description": "my key is " + secret})
	if r.status != 400 || r.code(t) != "invalid_request" {
		t.Errorf("a description holding a token: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), secret) {
		t.Errorf("the answer quotes the token: %s", r.body)
	}
	other, _ := ts.createKey(admin, map[string]any{"description": "other"})
	r = ts.as(secret, "GET", "/api/v1/ping", nil, "X-App-Name", "ci-"+other)
	if r.status < 400 || r.status >= 500 || strings.Contains(string(r.body), other) {
		t.Errorf("an app name holding a token: %d %s", r.status, r.body)
	}
	if r := ts.as(secret, "GET", "/api/v1/ping", nil, "X-App-Name", "ci"); r.status != 200 {
		t.Errorf("a plain app name: %d %s", r.status, r.body)
	}
	ts.stop()
	if logs := ts.logs.String(); strings.Contains(logs, secret[4:]) || strings.Contains(logs, other[4:]) || apitoken.Redact(logs) != logs {
		t.Errorf("a token reached the log:\n%s", logs)
	}
}
