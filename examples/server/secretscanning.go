package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/secretscanning"
)

// codeNotConfigured answers a route whose feature the server was started
// without.
const codeNotConfigured = "not_configured"

// openSecretScanning builds the secret-scanning handler from the key
// document at path (GitHub's public-keys JSON format), or returns nil when
// path is empty.
func openSecretScanning(m *apitoken.Manager, path string, maxBody int64) (*secretscanning.Handler, error) {
	if path == "" {
		return nil, nil
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-secret-scanning-keys: %w", err)
	}
	keys, err := secretscanning.ParseKeys(doc)
	if err != nil {
		return nil, fmt.Errorf("-secret-scanning-keys %s: %w", path, err)
	}
	return secretscanning.NewHandler(m, &secretscanning.Options{Keys: keys, MaxBody: maxBody})
}

// secretScanning is POST /api/v1/secret-scanning: a secret scanner's signed
// leak alert (see secretscanning.Handler). Without
// -secret-scanning-keys it answers 503, which the scanner retries, so
// alerts sent before the server is configured are not lost.
func (s *server) secretScanning(w http.ResponseWriter, r *http.Request) error {
	if s.scan == nil {
		return &errBody{http.StatusServiceUnavailable, codeNotConfigured,
			"secret scanning is not configured: start the server with -secret-scanning-keys FILE (the scanner's public-keys JSON document)"}
	}
	s.scan.ServeHTTP(w, r)
	return nil
}
