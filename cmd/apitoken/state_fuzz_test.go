package main

import (
	"encoding/json"
	"testing"

	"github.com/apitoken/apitoken/migrate"
)

// A state file is read back from disk, where anything may have written
// it: parseState accepts only what the command writes, and what it
// accepts writes back the same.
func FuzzParseState(f *testing.F) {
	good, _ := json.Marshal(migrateState{Stores: "ab", Cursor: migrate.Cursor{Phase: migrate.PhaseTokens, After: "0Vcd9N4aQUzPZul6"}})
	f.Add(good, "ab")
	f.Add([]byte(`{"stores":"ab","cursor":{"phase":"nope"}}`), "ab")
	f.Add([]byte(`{"stores":"ab","cursor":{"phase":"users","users":{"copied":-1}}}`), "ab")
	f.Add([]byte(`not json`), "ab")
	f.Fuzz(func(t *testing.T, b []byte, fingerprint string) {
		c, err := parseState(b, fingerprint)
		if err != nil {
			return
		}
		again, err := json.Marshal(migrateState{Stores: fingerprint, Cursor: c})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := parseState(again, fingerprint)
		if err != nil || c2 != c {
			t.Fatalf("accepted %q but not its own rewrite: %v", b, err)
		}
	})
}
