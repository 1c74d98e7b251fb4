package login

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// TestSecretsSealedBeforeTheMoveStillOpen opens a secret sealed by the
// root package's sealer before MFA moved here: the key login derives
// through Manager.DeriveKey must be the one the root package used, or
// every enrolled user would lose their second factor on upgrade.
func TestSecretsSealedBeforeTheMoveStillOpen(t *testing.T) {
	raw, err := os.ReadFile("testdata/sealed-mfa-secret-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(raw), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			line = l
		}
	}
	sealed, err := hex.DecodeString(line)
	if err != nil {
		t.Fatal(err)
	}
	m, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("golden hash key for sealing, 32b")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := New(m, memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := l.sealer.open(sealed, "user-golden-1")
	if err != nil || string(secret) != "12345678901234567890" {
		t.Fatalf("the old sealed secret opens to %q, %v", secret, err)
	}
	if _, err := l.sealer.open(sealed, "another-user"); err == nil {
		t.Fatal("the sealed secret opened for another user")
	}
	// And sealing today gives the same bytes for the same nonce.
	again, err := l.sealer.seal(secret, "user-golden-1", bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil || !bytes.Equal(again, sealed) {
		t.Fatalf("sealing now gives %x, %v; want the old %x", again, err, sealed)
	}
}
