package apitoken_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// A HashKey must be empty (plain SHA-256) or at least 32 bytes.
func TestNewRefusesAShortHashKey(t *testing.T) {
	for _, n := range []int{1, 16, 31} {
		_, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: make([]byte, n)})
		if !errors.Is(err, apitoken.ErrInvalidArgument) || !strings.Contains(err.Error(), "32 bytes") {
			t.Errorf("a %d-byte key: %v", n, err)
		}
	}
	for _, key := range [][]byte{nil, {}, make([]byte, 32), make([]byte, 64)} {
		m, err := apitoken.New(memstore.New(), &apitoken.Options{HashKey: key})
		if err != nil {
			t.Errorf("a %d-byte key: %v", len(key), err)
			continue
		}
		m.Close()
	}
}
