package pgstore

import (
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/changefeed"
)

// FuzzParseChange feeds arbitrary notification payloads (any database user
// may NOTIFY on the channel) to the parsers: they must never panic, what
// they accept must be exactly what this package writes, and no payload is
// both a heartbeat and a change.
func FuzzParseChange(f *testing.F) {
	f.Add("t" + apitoken.Hash{1, 2, 3}.String())   // a token change
	f.Add("uusr0000000000001")                     // a user change
	f.Add("t" + apitoken.Hash{}.String()[:63])     // one hex digit short
	f.Add("tzz")                                   // not hex
	f.Add("u")                                     // no user ID
	f.Add("")                                      // empty
	f.Add("x123")                                  // unknown kind
	f.Add(heartbeatPayload("0123456789abcdef", 7)) // a heartbeat, not a change
	f.Fuzz(func(t *testing.T, payload string) {
		nonce, seq, beat := parseHeartbeat(payload)
		if beat && heartbeatPayload(nonce, seq) != payload {
			t.Fatalf("accepted %q as heartbeat %q, %d", payload, nonce, seq)
		}
		c, ok := parseChange(payload)
		if !ok {
			return
		}
		if beat {
			t.Fatalf("%q is both a heartbeat and a change", payload)
		}
		var back string
		switch c.Kind {
		case changefeed.Token:
			back = "t" + apitoken.Hash(c.Hash).String()
		case changefeed.User:
			back = "u" + c.UserID
		default:
			t.Fatalf("accepted %q as kind %v", payload, c.Kind)
		}
		if back != payload && !(c.Kind == changefeed.Token && equalFoldASCII(back, payload)) {
			t.Fatalf("accepted %q, which reads back as %q", payload, back)
		}
	})
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= y && y <= 'F' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// FuzzDecodeApps feeds arbitrary bytes, as a corrupted apps column would
// hold, to the decoder: an error or valid apps, never a panic.
func FuzzDecodeApps(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"n":"ci","s":1,"f":1790000000000000000,"l":1790000000000000001}]`))
	f.Add([]byte(`[{"n":"","s":1}]`))
	f.Add([]byte(`[{"n":"ci","s":9}]`))
	f.Add([]byte(`{"n":"ci"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := decodeApps(b)
		if err != nil {
			return
		}
		for _, a := range apps {
			if a.Name == "" || !a.State.Valid() {
				t.Fatalf("accepted an impossible app %+v from %q", a, b)
			}
		}
	})
}

// TestHeartbeatPayloadsAreNotChanges checks that a heartbeat reads back as
// itself and never as a change, and that near misses are not heartbeats.
func TestHeartbeatPayloadsAreNotChanges(t *testing.T) {
	const nonce = "0123456789abcdef"
	for _, seq := range []uint64{0, 1, 42, 1<<64 - 1} {
		p := heartbeatPayload(nonce, seq)
		if n, s, ok := parseHeartbeat(p); !ok || n != nonce || s != seq {
			t.Fatalf("heartbeat %q read as %q, %d, %v", p, n, s, ok)
		}
		if c, ok := parseChange(p); ok {
			t.Fatalf("heartbeat %q read as change %+v", p, c)
		}
	}
	for _, p := range []string{
		"h", "h" + nonce, "h" + nonce + ".", "h" + nonce + ".01", "h" + nonce + ".-1", "h" + nonce + ".+1",
		"h" + nonce + ".1x", "h0123456789abcdeg.1", "h0123456789abcde.1", "h" + nonce + "x1",
		"h" + nonce + ".18446744073709551616", "t" + nonce + ".1",
	} {
		if _, _, ok := parseHeartbeat(p); ok {
			t.Fatalf("%q read as a heartbeat", p)
		}
	}
}
