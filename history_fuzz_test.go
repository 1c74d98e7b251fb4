package apitoken

import (
	"testing"
	"time"
)

// FuzzDecodeCursor feeds arbitrary strings to the listing cursor parser,
// which reads outside input (?cursor=): it must never panic, and whatever
// it accepts must encode back to the same string, in the same order.
func FuzzDecodeCursor(f *testing.F) {
	at := Position{Created: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), ID: "1a2B3c4D5e6F7g8H"}
	f.Add(encodeCursor(at, false))
	f.Add(encodeCursor(at, true))
	f.Add("")
	f.Add("AAAA")
	f.Add("AAE")
	f.Add("////")
	f.Fuzz(func(t *testing.T, s string) {
		p, newest, err := decodeCursor(s)
		if err != nil || s == "" {
			return
		}
		if got := encodeCursor(p, newest); got != s {
			t.Fatalf("accepted %q, which encodes back as %q", s, got)
		}
	})
}
