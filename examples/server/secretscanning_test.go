package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/secretscanning"
)

// startServerWith is startServer with config changes and the start-up
// output kept.
func startServerWith(t *testing.T, change func(*config), stdout io.Writer) *testServer {
	t.Helper()
	dir := t.TempDir()
	logs := &bytes.Buffer{}
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10,
		metricsInterval: time.Hour}
	change(&c)
	app, err := open(context.Background(), c, stdout, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	ts := &testServer{t: t, srv: httptest.NewServer(app.routes()), app: app, logs: logs}
	t.Cleanup(ts.stop)
	return ts
}

// writeKeyDoc writes a key document in GitHub's public-keys format
// listing key's public half under id.
func writeKeyDoc(t *testing.T, id string, key *ecdsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{
		{"key_identifier": id, "key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), "is_current": true}}})
	path := filepath.Join(t.TempDir(), "secret-scanning-keys.json")
	require.NoError(t, os.WriteFile(path, doc, 0o600))
	return path
}

func signBody(t *testing.T, key *ecdsa.PrivateKey, body []byte) string {
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(sig)
}

// With -secret-scanning-keys, a signed alert revokes the reported key and
// labels it; the same body under another signature is refused.
func TestSecretScanningRoute(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	path := writeKeyDoc(t, "k1", key)
	ts := startServerWith(t, func(c *config) { c.scanKeysPath = path }, io.Discard)
	admin := ts.login("admin@example.com", adminPassword)
	secret, _ := ts.createKey(admin, map[string]any{"description": "leaks"})
	require.Equal(t, 200, ts.as(secret, "GET", "/api/v1/ping", nil).status)

	body, _ := json.Marshal([]secretscanning.Match{{Token: secret, Type: "apitoken_api_token",
		URL: "https://github.com/octocat/hello/blob/abc/.env", Source: "content"}})
	other, _ := json.Marshal([]secretscanning.Match{{Token: "atk_other", Type: "apitoken_api_token"}})

	r := ts.call("POST", "/api/v1/secret-scanning", string(body),
		secretscanning.KeyIDHeader, "k1", secretscanning.SignatureHeader, signBody(t, key, other))
	assert.Equal(t, 401, r.status, "another body's signature")
	assert.Equal(t, secretscanning.CodeInvalidSignature, r.code(t))
	assert.Equal(t, 200, ts.as(secret, "GET", "/api/v1/ping", nil).status, "a refused alert revoked nothing")

	r = ts.call("POST", "/api/v1/secret-scanning", string(body),
		secretscanning.KeyIDHeader, "k1", secretscanning.SignatureHeader, signBody(t, key, body))
	require.Equal(t, 200, r.status, string(r.body))
	var fb []secretscanning.Feedback
	require.NoError(t, json.Unmarshal(r.body, &fb))
	assert.Equal(t, []secretscanning.Feedback{{TokenRaw: secret, TokenType: "apitoken_api_token", Label: secretscanning.LabelTruePositive}}, fb)
	assert.Equal(t, 401, ts.as(secret, "GET", "/api/v1/ping", nil).status, "the reported key is revoked")
	assert.Contains(t, ts.logs.String(), "token.leak_reported")
	assert.Contains(t, ts.logs.String(), "https://github.com/octocat/hello/blob/abc/.env")
	assert.NotContains(t, ts.logs.String(), secret)

	big := strings.Repeat(" ", 65<<10)
	r = ts.call("POST", "/api/v1/secret-scanning", big, secretscanning.KeyIDHeader, "k1")
	assert.Equal(t, 413, r.status, "a body over -max-body")
}

// Without -secret-scanning-keys the route answers 503 with a message that
// names the flag; the scanner retries, so no alert is lost meanwhile.
func TestSecretScanningRouteUnconfigured(t *testing.T) {
	ts := startServer(t, t.TempDir())
	r := ts.call("POST", "/api/v1/secret-scanning", "[]")
	assert.Equal(t, 503, r.status)
	assert.Equal(t, codeNotConfigured, r.code(t))
	assert.Contains(t, string(r.body), "-secret-scanning-keys")
}

// A key file that is missing or not a key document stops the start.
func TestSecretScanningKeysFileMustParse(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"public_keys":[]}`), 0o600))
	for _, path := range []string{bad, filepath.Join(dir, "missing.json")} {
		c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
			adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10,
			scanKeysPath: path}
		_, err := open(context.Background(), c, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if assert.Error(t, err, path) {
			assert.Contains(t, err.Error(), "-secret-scanning-keys")
		}
	}
}

// With -metrics stdout the server exports the adapter's instruments, on
// shutdown at the latest, with no token in them.
func TestMetricsToStdout(t *testing.T) {
	var out syncBuffer
	ts := startServerWith(t, func(c *config) { c.metrics = "stdout" }, &out)
	admin := ts.login("admin@example.com", adminPassword)
	secret, _ := ts.createKey(admin, map[string]any{})
	for range 3 {
		require.Equal(t, 200, ts.as(secret, "GET", "/api/v1/ping", nil).status)
	}
	ts.as("atk_nonsense", "GET", "/api/v1/ping", nil)
	ts.stop() // exports what is pending
	s := out.String()
	for _, name := range []string{"apitoken.verifications", "apitoken.token.issued", "error.type", "malformed"} {
		assert.Contains(t, s, name)
	}
	assert.NotContains(t, s, secret)
	assert.NotContains(t, s, admin)
	assert.False(t, apitoken.Pattern.MatchString(s), "a token in the metrics")
}

func TestMetricsFlagIsChecked(t *testing.T) {
	dir := t.TempDir()
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10,
		metrics: "prometheus", metricsInterval: time.Minute}
	_, err := open(context.Background(), c, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), "-metrics")
	}
}
