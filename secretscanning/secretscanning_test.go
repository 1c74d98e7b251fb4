package secretscanning_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/secretscanning"
	"github.com/apitoken/apitoken/storetest"
)

// scanner is a secret scanner's signing key, made for the test.
type scanner struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newScanner(t testing.TB, curve elliptic.Curve) scanner {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	return scanner{id: hex.EncodeToString(id[:]), priv: priv}
}

// pem is the key's public half as the key document lists it.
func (s scanner) pem(t testing.TB) string {
	der, err := x509.MarshalPKIXPublicKey(&s.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign returns the base64 ASN.1 signature of body.
func (s scanner) sign(t testing.TB, body []byte) string {
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// keyDoc is a key document in the scanner's published format.
func keyDoc(t testing.TB, keys ...scanner) []byte {
	type entry struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	var d struct {
		PublicKeys []entry `json:"public_keys"`
	}
	for i, k := range keys {
		d.PublicKeys = append(d.PublicKeys, entry{k.id, k.pem(t), i == len(keys)-1})
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scanEnv is a Manager with a secret-scanning handler trusting keys a and
// b, and the events it emitted.
type scanEnv struct {
	m      *apitoken.Manager
	s      *storetest.Counting
	h      *secretscanning.Handler
	a, b   scanner
	mu     sync.Mutex
	events []apitoken.Event
}

func newScanEnv(t *testing.T, o *secretscanning.Options) *scanEnv {
	e := &scanEnv{a: newScanner(t, elliptic.P256()), b: newScanner(t, elliptic.P256())}
	e.m, e.s = newManager(t, &apitoken.Options{OnEvent: func(ev apitoken.Event) {
		e.mu.Lock()
		e.events = append(e.events, ev)
		e.mu.Unlock()
	}})
	keys, err := secretscanning.ParseKeys(keyDoc(t, e.a, e.b))
	if err != nil {
		t.Fatal(err)
	}
	var opts secretscanning.Options
	if o != nil {
		opts = *o
	}
	opts.Keys = keys
	if e.h, err = secretscanning.NewHandler(e.m, &opts); err != nil {
		t.Fatal(err)
	}
	return e
}

// leakEvents returns the EventLeakReported events so far.
func (e *scanEnv) leakEvents() []apitoken.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []apitoken.Event
	for _, ev := range e.events {
		if ev.Type == event.LeakReported {
			out = append(out, ev)
		}
	}
	return out
}

// post sends body with the given signature headers (empty: none).
func (e *scanEnv) post(keyID, sig string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/secret-scanning", bytes.NewReader(body))
	if keyID != "" {
		r.Header.Set(secretscanning.KeyIDHeader, keyID)
	}
	if sig != "" {
		r.Header.Set(secretscanning.SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// alert is a signed-by-a request body reporting tokens.
func alertBody(t testing.TB, tokens ...string) []byte {
	var ms []secretscanning.Match
	for i, tok := range tokens {
		ms = append(ms, secretscanning.Match{Token: tok, Type: "apitoken_api_token",
			URL: fmt.Sprintf("https://github.com/octocat/hello/blob/abc/config%d.yml", i), Source: "content"})
	}
	b, err := json.Marshal(ms)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func feedbackOf(t *testing.T, w *httptest.ResponseRecorder) []secretscanning.Feedback {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var fb []secretscanning.Feedback
	if err := jsonDecode(w.Body.Bytes(), &fb); err != nil {
		t.Fatal(err)
	}
	return fb
}

// issueTokens issues n API tokens for one user of account acme.
func issueTokens(t *testing.T, m *apitoken.Manager, n int) []apitoken.Issued {
	t.Helper()
	first := issueAPIToken(t, m)
	out := []apitoken.Issued{first}
	for len(out) < n {
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: fmt.Sprintf("u%d@example.com", len(out)), Role: apitoken.Normal})
		if err != nil {
			t.Fatal(err)
		}
		iss, err := m.IssueFor(ctx, "acme", u.ID, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, iss)
	}
	return out
}

// A valid alert revokes each reported live token (true_positive); an
// unknown, revoked or malformed token is false_positive and writes no
// record. Each match emits EventLeakReported with where it was found and
// never the token.
func TestSecretScanningLabelsAndRevokes(t *testing.T) {
	e := newScanEnv(t, nil)
	toks := issueTokens(t, e.m, 2)
	live, revoked := toks[0], toks[1]
	if err := e.m.RevokeSecret(ctx, revoked.Secret); err != nil {
		t.Fatal(err)
	}
	session, err := e.m.StartSession(ctx, live.Token.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		token   string
		label   string
		writes  int64
		err     error
		tokenID string
	}{
		{"a live API token is revoked", live.Secret, secretscanning.LabelTruePositive, 1, nil, live.Token.ID},
		{"a live session token is revoked", session.Secret, secretscanning.LabelTruePositive, 1, nil, session.Token.ID},
		{"the same token reported again is false_positive", live.Secret, secretscanning.LabelFalsePositive, 0, apitoken.ErrRevoked, live.Token.ID},
		{"a token revoked before is false_positive", revoked.Secret, secretscanning.LabelFalsePositive, 0, apitoken.ErrRevoked, revoked.Token.ID},
		{"an unknown well-formed token is false_positive", mustGenerate(), secretscanning.LabelFalsePositive, 0, apitoken.ErrUnknown, ""},
		{"a wrong checksum is false_positive", wrongLastChar(live.Secret), secretscanning.LabelFalsePositive, 0, apitoken.ErrMalformed, ""},
		{"another issuer's token is false_positive", "ghp_16C7e42F292c6912E7710c838347Ae178B4a", secretscanning.LabelFalsePositive, 0, apitoken.ErrMalformed, ""},
		{"an empty token is false_positive", "", secretscanning.LabelFalsePositive, 0, apitoken.ErrMalformed, ""},
		{"an over-long token is false_positive", strings.Repeat("a", 10_000), secretscanning.LabelFalsePositive, 0, apitoken.ErrMalformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := alertBody(t, tc.token)
			n0, w0 := len(e.leakEvents()), e.s.Writes()
			fb := feedbackOf(t, e.post(e.a.id, e.a.sign(t, body), body))
			if len(fb) != 1 || fb[0].Label != tc.label || fb[0].TokenRaw != tc.token || fb[0].TokenType != "apitoken_api_token" || fb[0].TokenHash != "" {
				t.Fatalf("feedback %+v, want label %s", fb, tc.label)
			}
			if w := e.s.Writes() - w0; w != tc.writes {
				t.Errorf("%d store writes, want %d", w, tc.writes)
			}
			evs := e.leakEvents()[n0:]
			if len(evs) != 1 {
				t.Fatalf("%d leak events, want 1", len(evs))
			}
			ev := evs[0]
			if !errors.Is(ev.Err, tc.err) || (tc.err == nil) != (ev.Err == nil) {
				t.Errorf("event Err %v, want %v", ev.Err, tc.err)
			}
			if ev.TokenID != tc.tokenID || ev.URL != "https://github.com/octocat/hello/blob/abc/config0.yml" || ev.Source != "content" {
				t.Errorf("event %+v", ev)
			}
		})
	}
	if _, err := e.m.Verify(ctx, live.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Errorf("the reported token still verifies: %v", err)
	}
	if _, err := e.m.Verify(ctx, session.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Errorf("the reported session still verifies: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.events {
		s := fmt.Sprintf("%+v", ev)
		if apitoken.Pattern.MatchString(s) || strings.Contains(s, live.Secret) {
			t.Errorf("an event holds a token: %s", s)
		}
	}
}

// One alert with several matches answers in order; a token repeated in it
// is revoked once and labelled true_positive once. With FeedbackHash the
// answer carries token_hash instead of the token.
func TestSecretScanningBatch(t *testing.T) {
	e := newScanEnv(t, &secretscanning.Options{FeedbackHash: true})
	toks := issueTokens(t, e.m, 3)
	unknown := mustGenerate()
	reported := []string{toks[0].Secret, unknown, toks[1].Secret, toks[0].Secret, "nonsense", toks[2].Secret}
	want := []string{secretscanning.LabelTruePositive, secretscanning.LabelFalsePositive, secretscanning.LabelTruePositive,
		secretscanning.LabelFalsePositive, secretscanning.LabelFalsePositive, secretscanning.LabelTruePositive}
	body := alertBody(t, reported...)
	w0 := e.s.Writes()
	w := e.post(e.b.id, e.b.sign(t, body), body)
	if strings.Contains(w.Body.String(), toks[0].Secret) {
		t.Error("FeedbackHash answer holds a token")
	}
	fb := feedbackOf(t, w)
	if len(fb) != len(want) {
		t.Fatalf("%d feedback entries, want %d", len(fb), len(want))
	}
	for i := range fb {
		sum := sha256.Sum256([]byte(reported[i]))
		if fb[i].Label != want[i] || fb[i].TokenHash != hex.EncodeToString(sum[:]) || fb[i].TokenRaw != "" {
			t.Errorf("match %d: %+v, want label %s", i, fb[i], want[i])
		}
	}
	if w := e.s.Writes() - w0; w != 3 {
		t.Errorf("%d store writes, want 3 (one per live token)", w)
	}
	if n := len(e.leakEvents()); n != len(reported) {
		t.Errorf("%d leak events, want %d", n, len(reported))
	}
}

// Refused requests revoke nothing, write nothing and answer with the
// status the protocol expects: 401 for any signature that is not the
// trusted key's over these exact bytes, 413 for a body or match count
// over its bound, 400 for a signed body that is not an array of matches.
func TestSecretScanningRefuses(t *testing.T) {
	e := newScanEnv(t, &secretscanning.Options{MaxBody: 4096, MaxMatches: 3})
	live := issueAPIToken(t, e.m)
	body := alertBody(t, live.Secret)
	other := alertBody(t, mustGenerate())
	stranger := newScanner(t, elliptic.P256())
	good := e.a.sign(t, body)
	flipped, _ := base64.StdEncoding.DecodeString(good)
	flipped[len(flipped)-1] ^= 1
	var reformatted bytes.Buffer
	json.Indent(&reformatted, body, "", "  ")
	big := alertBody(t, strings.Repeat("x", 5000))
	tooMany := alertBody(t, mustGenerate(), mustGenerate(), mustGenerate(), mustGenerate())
	for _, tc := range []struct {
		name       string
		keyID, sig string
		body       []byte
		status     int
		code       string
	}{
		{"no signature headers", "", "", body, 401, secretscanning.CodeInvalidSignature},
		{"a signature without key ID", "", good, body, 401, secretscanning.CodeInvalidSignature},
		{"a key ID without signature", e.a.id, "", body, 401, secretscanning.CodeInvalidSignature},
		{"an unknown key ID", stranger.id, stranger.sign(t, body), body, 401, secretscanning.CodeInvalidSignature},
		{"a signature that is not base64", e.a.id, "%%%" + good, body, 401, secretscanning.CodeInvalidSignature},
		{"a signature with one bit flipped", e.a.id, base64.StdEncoding.EncodeToString(flipped), body, 401, secretscanning.CodeInvalidSignature},
		{"an over-long signature header", e.a.id, strings.Repeat("A", 1000), body, 401, secretscanning.CodeInvalidSignature},
		{"a body replayed with another body's signature", e.a.id, e.a.sign(t, other), body, 401, secretscanning.CodeInvalidSignature},
		{"a body re-signed by an unknown key under a trusted key ID", e.a.id, stranger.sign(t, body), body, 401, secretscanning.CodeInvalidSignature},
		{"a body signed by one trusted key under the other's ID", e.b.id, good, body, 401, secretscanning.CodeInvalidSignature},
		{"the same matches re-serialised under the original signature", e.a.id, good, reformatted.Bytes(), 401, secretscanning.CodeInvalidSignature},
		{"an oversized body, signed", e.a.id, e.a.sign(t, big), big, 413, secretscanning.CodePayloadTooLarge},
		{"an oversized body, unsigned", "", "", big, 413, secretscanning.CodePayloadTooLarge},
		{"more matches than allowed, signed", e.a.id, e.a.sign(t, tooMany), tooMany, 413, secretscanning.CodePayloadTooLarge},
		{"a signed object instead of an array", e.a.id, e.a.sign(t, []byte(`{"token":"x"}`)), []byte(`{"token":"x"}`), 400, "invalid_request"},
		{"a signed array with trailing data", e.a.id, e.a.sign(t, append(body, '1')), append(body, '1'), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w0, n0 := e.s.Writes(), len(e.leakEvents())
			w := e.post(tc.keyID, tc.sig, tc.body)
			var eb struct{ Error apitoken.HTTPError }
			if w.Code != tc.status || jsonDecode(w.Body.Bytes(), &eb) != nil || eb.Error.Code != tc.code {
				t.Errorf("status %d body %s; want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if w.Header().Get("WWW-Authenticate") != "" {
				t.Error("a Bearer challenge on a signature failure")
			}
			if dw, dn := e.s.Writes()-w0, len(e.leakEvents())-n0; dw != 0 || dn != 0 {
				t.Errorf("%d writes and %d leak events, want none", dw, dn)
			}
			if _, err := e.m.Verify(ctx, live.Secret, ""); err != nil {
				t.Errorf("the token was revoked by a refused request: %v", err)
			}
		})
	}
	t.Run("a body larger than declared is cut at the bound", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(bytes.NewReader(big)))
		r.ContentLength = -1 // chunked: the length is known only by reading
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})
	t.Run("GET", func(t *testing.T) {
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
			t.Errorf("status %d Allow %q", w.Code, w.Header().Get("Allow"))
		}
	})
}

// The protocol signs the body alone, with no nonce: the exact request
// replayed verifies again, and does nothing, since its tokens are already
// revoked.
func TestSecretScanningExactReplayWritesNothing(t *testing.T) {
	e := newScanEnv(t, nil)
	live := issueAPIToken(t, e.m)
	body := alertBody(t, live.Secret)
	sig := e.a.sign(t, body)
	if fb := feedbackOf(t, e.post(e.a.id, sig, body)); fb[0].Label != secretscanning.LabelTruePositive {
		t.Fatalf("first delivery: %+v", fb)
	}
	w0 := e.s.Writes()
	for range 3 {
		if fb := feedbackOf(t, e.post(e.a.id, sig, body)); fb[0].Label != secretscanning.LabelFalsePositive {
			t.Fatalf("replay: %+v", fb)
		}
	}
	if w := e.s.Writes() - w0; w != 0 {
		t.Errorf("replays made %d writes", w)
	}
}

// The recorded example alert, in the scanner's documented format, parses
// and its token (not one of ours) is a false positive; the recorded key
// document parses to its two keys.
func TestSecretScanningRecordedExamples(t *testing.T) {
	doc, err := os.ReadFile("testdata/public-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secretscanning.ParseKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys["bf1a49904864de9de79f70f2cfbcfd61fdd2cd1a30ab8f3215ede86324fdd9d3"] == nil {
		t.Errorf("keys %v", keys)
	}
	body, err := os.ReadFile("testdata/alert.json")
	if err != nil {
		t.Fatal(err)
	}
	e := newScanEnv(t, nil)
	fb := feedbackOf(t, e.post(e.a.id, e.a.sign(t, body), body))
	want := secretscanning.Feedback{TokenRaw: "NMIfyYncKcRALEXAMPLE", TokenType: "mycompany_api_token", Label: secretscanning.LabelFalsePositive}
	if len(fb) != 1 || fb[0] != want {
		t.Errorf("feedback %+v, want %+v", fb, want)
	}
	ev := e.leakEvents()
	if len(ev) != 1 || ev[0].Source != "content" ||
		ev[0].URL != "https://github.com/octocat/Hello-World/blob/12345600b9cbe38a219f39a9941c9319b600c002/foo/bar.txt" {
		t.Errorf("events %+v", ev)
	}
}

// A token inside the reported URL or source is redacted from the event,
// and both are bounded.
func TestSecretScanningEventIsScrubbed(t *testing.T) {
	e := newScanEnv(t, nil)
	live := issueAPIToken(t, e.m)
	b, _ := json.Marshal([]secretscanning.Match{{Token: live.Secret, Type: "t",
		URL: "https://example.com/?k=" + live.Secret + strings.Repeat("/x", 3000), Source: live.Secret}})
	feedbackOf(t, e.post(e.a.id, e.a.sign(t, b), b))
	ev := e.leakEvents()[0]
	if strings.Contains(ev.URL, live.Secret) || strings.Contains(ev.Source, live.Secret) || len(ev.URL) > 2048 {
		t.Errorf("event URL %q (%d bytes) source %q", ev.URL[:80], len(ev.URL), ev.Source)
	}
}

// The key document parser takes P-256 keys only, each under one
// identifier.
func TestParseSecretScanningKeys(t *testing.T) {
	a, b := newScanner(t, elliptic.P256()), newScanner(t, elliptic.P256())
	p384 := newScanner(t, elliptic.P384())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER}))
	entry := func(id, key string) string {
		k, _ := json.Marshal(key)
		return fmt.Sprintf(`{"key_identifier":%q,"key":%s,"is_current":true}`, id, k)
	}
	for _, tc := range []struct {
		name string
		doc  string
		n    int // keys; 0 means an error
	}{
		{"two keys, current or not", string(keyDoc(t, a, b)), 2},
		{"unknown fields are ignored", `{"public_keys":[` + entry(a.id, a.pem(t)) + `],"other":1}`, 1},
		{"a P-384 key", `{"public_keys":[` + entry(p384.id, p384.pem(t)) + `]}`, 0},
		{"an RSA key", `{"public_keys":[` + entry("r", rsaPEM) + `]}`, 0},
		{"an empty identifier", `{"public_keys":[` + entry("", a.pem(t)) + `]}`, 0},
		{"a repeated identifier", `{"public_keys":[` + entry("x", a.pem(t)) + "," + entry("x", b.pem(t)) + `]}`, 0},
		{"two PEM blocks in one key", `{"public_keys":[` + entry("x", a.pem(t)+b.pem(t)) + `]}`, 0},
		{"a key that is not PEM", `{"public_keys":[` + entry("x", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE") + `]}`, 0},
		{"no keys", `{"public_keys":[]}`, 0},
		{"not JSON", `public_keys`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := secretscanning.ParseKeys([]byte(tc.doc))
			if tc.n == 0 {
				if !errors.Is(err, apitoken.ErrInvalidArgument) {
					t.Errorf("err %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil || len(keys) != tc.n {
				t.Errorf("%d keys, %v; want %d", len(keys), err, tc.n)
			}
		})
	}
	if _, err := secretscanning.NewHandler(nil, nil); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a handler without Manager: %v", err)
	}
	m, _ := newManager(t, nil)
	if _, err := secretscanning.NewHandler(m, nil); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a handler without keys: %v", err)
	}
}

// FuzzParseSecretScanningKeys feeds the key document parser arbitrary
// input: it never panics, and what it accepts is a non-empty set of P-256
// keys.
func FuzzParseSecretScanningKeys(f *testing.F) {
	doc, err := os.ReadFile("testdata/public-keys.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"public_keys":[{"key_identifier":"a","key":"-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n"}]}`))
	f.Add([]byte(`{"public_keys":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := secretscanning.ParseKeys(doc)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a document without keys")
		}
		for id, k := range keys {
			if id == "" || k.Curve != elliptic.P256() {
				t.Fatalf("accepted key %q on %v", id, k.Curve)
			}
		}
	})
}

// wrongLastChar is token with its last character (part of the checksum)
// replaced by another one, never by itself.
func wrongLastChar(token string) string {
	last := byte('x')
	if token[len(token)-1] == last {
		last = 'y'
	}
	return token[:len(token)-1] + string(last)
}
