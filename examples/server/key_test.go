package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
)

// A key file of any length but 32 bytes stops the server at start, with an
// error that says what the file must hold, and is left as it was.
func TestLoadOrCreateKeyRefusesAKeyFileOfTheWrongLength(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new.key")
	key, err := apitoken.LoadOrCreateHashKey(path)
	if err != nil || len(key) != 32 {
		t.Fatalf("creating: %d bytes, %v", len(key), err)
	}
	// A key file others may read is refused and left as it is.
	loose := filepath.Join(dir, "loose.key")
	if err := os.WriteFile(loose, key, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := apitoken.LoadOrCreateHashKey(loose); err == nil || !strings.Contains(err.Error(), "0644") {
		t.Errorf("a 0644 key file: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v, %v", fi.Mode(), err)
	}
	again, err := apitoken.LoadOrCreateHashKey(path)
	if err != nil || string(again) != string(key) {
		t.Fatalf("reading it back: %v", err)
	}
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"16 bytes", make([]byte, 16)},
		{"31 bytes", make([]byte, 31)},
		{"a trailing newline", append(make([]byte, 32), '\n')},
		{"hex text", []byte(strings.Repeat("ab", 32))},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		if err := os.WriteFile(p, tc.content, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := apitoken.LoadOrCreateHashKey(p)
		if err == nil || !strings.Contains(err.Error(), "32 raw bytes") {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got, _ := os.ReadFile(p); string(got) != string(tc.content) {
			t.Errorf("%s: the file was changed", tc.name)
		}
	}
	// The server does not start on a short key.
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, make([]byte, 16), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: short, adminName: "a@example.com", account: "default"}
	if _, err := open(t.Context(), c, nil, nil); err == nil || !strings.Contains(err.Error(), "32 raw bytes") {
		t.Errorf("open with a 16-byte key file: %v", err)
	}
}
