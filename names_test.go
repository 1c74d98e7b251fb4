package apitoken_test

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
)

// tokenTexts returns texts that hold a token of format f somewhere, named.
func tokenTexts(t *testing.T, f apitoken.Format) map[string]string {
	t.Helper()
	api, err := f.Generate(apitoken.KindAPI)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := f.Generate(apitoken.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	typo := api[:len(api)-1] + "a"
	if typo == api {
		typo = api[:len(api)-1] + "b"
	}
	return map[string]string{
		"alone":                    api,
		"between spaces":           "key " + api + " here",
		"after a letter":           "x" + api,
		"after an underscore":      "my_" + api,
		"before a letter":          api + "x",
		"before an underscore":     api + "_prod",
		"glued on both sides":      "9" + api + "Z",
		"a session token":          "s=" + sess,
		"no issue time":            apitoken.WithoutIssueTime(api),
		"a wrong checksum":         typo,
		"in a URL":                 "https://ci.example.com/?token=" + api,
		"after a prefix lookalike": "atk_ " + api,
	}
}

// Descriptions and type labels that hold a token are refused with
// ErrInvalidArgument (HTTP 400), never stored, and the error does not
// quote them.
func TestTextHoldingATokenIsRefused(t *testing.T) {
	for _, f := range []apitoken.Format{
		{},
		{APIPrefix: "acme", SessionPrefix: "acmes", BodyBits: 128},
		{APIPrefix: "k", SessionPrefix: "s", BodyBits: 128}, // short enough for a type label
	} {
		t.Run(fmt.Sprintf("%+v", f), func(t *testing.T) {
			m, s := newManager(t, &apitoken.Options{Format: f})
			iss := issueAPIToken(t, m) // also creates the user's session
			owner, err := m.Verify(ctx, mustSession(t, m, iss.Token.UserID), "")
			if err != nil {
				t.Fatal(err)
			}
			labels := 0
			for name, text := range tokenTexts(t, f) {
				w0 := s.Writes()
				_, err := m.Issue(ctx, owner, apitoken.IssueRequest{Description: text})
				checkRefusal(t, name+" in a description", err, text)
				if len(text) <= 32 { // the longest type label
					labels++
					_, err := m.Issue(ctx, owner, apitoken.IssueRequest{Type: text})
					checkRefusal(t, name+" in a type label", err, text)
				}
				_, err = m.Update(ctx, owner, iss.Token.ID, apitoken.TokenUpdate{Description: &text})
				checkRefusal(t, name+" in an updated description", err, text)
				if w := s.Writes() - w0; w != 0 {
					t.Errorf("%s: %d writes", name, w)
				}
			}
			if f.APIPrefix == "k" && labels == 0 {
				t.Error("no token short enough for a type label was tried")
			}
			// Text that only looks a little like a token is accepted.
			for _, text := range []string{
				"", "a description", "atk_", "atk_short", "ats_ and atk_ are prefixes",
				"acme_live_ABC", strings.Repeat("A", 200), "rotate atk_... every year",
			} {
				if _, err := m.Issue(ctx, owner, apitoken.IssueRequest{Description: text}); err != nil {
					t.Errorf("description %q refused: %v", text, err)
				}
			}
			if _, err := m.Issue(ctx, owner, apitoken.IssueRequest{Type: "ci_atk_deploy"}); err != nil {
				t.Errorf("type label refused: %v", err)
			}
		})
	}
}

// mustSession starts a session for user id and returns its secret.
func mustSession(t *testing.T, m *apitoken.Manager, id string) string {
	t.Helper()
	l, err := m.StartSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return l.Secret
}

func checkRefusal(t *testing.T, name string, err error, text string) {
	t.Helper()
	if !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("%s: %v, want ErrInvalidArgument", name, err)
		return
	}
	if apitoken.HTTPErrorOf(err).Status != 400 {
		t.Errorf("%s: HTTP %d, want 400", name, apitoken.HTTPErrorOf(err).Status)
	}
	if strings.Contains(err.Error(), text) {
		t.Errorf("%s: the error quotes the text: %v", name, err)
	}
}

// An application name that holds a token is refused before it is
// recorded, and it appears in no Principal, event or record.
func TestAppNameHoldingATokenIsRefused(t *testing.T) {
	var (
		mu     sync.Mutex
		events []string
	)
	m, s := newManager(t, &apitoken.Options{MaxAppName: 128, OnEvent: func(e apitoken.Event) {
		mu.Lock()
		events = append(events, fmt.Sprintf("%+v", e))
		mu.Unlock()
	}})
	iss := issueAPIToken(t, m)
	if _, err := m.Verify(ctx, iss.Secret, "ci"); err != nil {
		t.Fatal(err)
	}
	for name, app := range tokenTexts(t, apitoken.Format{}) {
		w0 := s.Writes()
		p, err := m.Verify(ctx, iss.Secret, app)
		checkRefusal(t, name, err, app)
		if p.App != "" {
			t.Errorf("%s: Principal.App = %q", name, p.App)
		}
		if w := s.Writes() - w0; w != 0 {
			t.Errorf("%s: %d writes", name, w)
		}
	}
	rec, err := s.TokenByID(ctx, iss.Token.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Apps) != 1 || rec.Apps[0].Name != "ci" {
		t.Errorf("recorded apps %+v, want only ci", rec.Apps)
	}
	mu.Lock()
	for _, e := range events {
		if apitoken.Redact(e) != e {
			t.Errorf("an event holds a token: %s", e)
		}
	}
	mu.Unlock()
	// Recorded names keep working, and a plain new one is still recorded.
	for _, app := range []string{"ci", "atk_-deployer", "deploy"} {
		if p, err := m.Verify(ctx, iss.Secret, app); err != nil || p.App != app {
			t.Errorf("app %q: %+v, %v", app, p, err)
		}
	}
}

// Redact finds tokens whatever surrounds them; Pattern keeps to word
// boundaries, for scanners that report whole tokens.
func TestRedactFindsTokensWhereverTheyAre(t *testing.T) {
	texts := tokenTexts(t, apitoken.Format{})
	for name, text := range texts {
		got := apitoken.Redact(text)
		if !strings.Contains(got, "[token]") || strings.Contains(got, text) {
			t.Errorf("%s: Redact(%q) = %q", name, text, got)
		}
		if strings.Contains(got, "atk_") && name != "after a prefix lookalike" {
			t.Errorf("%s: a prefix survives: %q", name, got)
		}
	}
	tok := texts["alone"]
	other := mustGenerate()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"nothing here", "nothing here"},
		{"atk_short", "atk_short"},
		{"/api/v1/api/key/" + tok, "/api/v1/api/key/[token]"},
		{"/api/v1/api/key/x" + tok, "/api/v1/api/key/x[token]"},
		{"/api/v1/api/key/" + tok + "x", "/api/v1/api/key/[token]"},
		{"/api/v1/api/key/_" + tok + "_", "/api/v1/api/key/_[token]_"},
		{tok + other, "[token][token]"},
		{apitoken.WithoutIssueTime(tok) + other, "[token][token]"},
		{tok + "atk_short", "[token]atk_short"},
		{tok + "_" + other, "[token]_[token]"},
		{tok + "/" + other, "[token]/[token]"},
		{"ats_" + tok[4:], "[token]"},
	} {
		if got := apitoken.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if apitoken.Pattern.MatchString("x"+tok) || apitoken.Pattern.MatchString(tok+"x") {
		t.Error("Pattern matches a token glued to a letter: it must keep its word boundaries")
	}
}

// Whatever characters surround a token, Redact leaves no part of its body
// long enough to matter (8 characters or more).
func TestRedactLeavesNoTokenBodyWhateverSurroundsIt(t *testing.T) {
	const filler = "0123456789abcXYZ_-/ .=atk"
	rng := mrand.New(mrand.NewPCG(7, 7))
	junk := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = filler[rng.IntN(len(filler))]
		}
		return string(b)
	}
	for range 2000 {
		toks := []string{mustGenerate(), mustGenerate()}
		if rng.IntN(2) == 0 {
			toks[1] = apitoken.WithoutIssueTime(toks[1])
		}
		in := junk() + toks[0] + junk() + toks[1] + junk()
		out := apitoken.Redact(in)
		for _, tok := range toks {
			body := tok[4:]
			for i := 0; i+8 <= len(body); i++ {
				if strings.Contains(out, body[i:i+8]) {
					t.Fatalf("Redact(%q) = %q keeps %q", in, out, body[i:i+8])
				}
			}
		}
	}
}
