package secretscanning

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// FuzzSecretScanningBody feeds the alert body parser arbitrary bytes: it
// never panics, never returns more than its bound, and what it accepts
// survives a round trip through JSON unchanged.
func FuzzSecretScanningBody(f *testing.F) {
	alert, err := os.ReadFile("testdata/alert.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{string(alert), `[]`, `[{}]`, `[null]`, `[{"token":1}]`, `[{"token":"a"}] x`,
		`[{"token":"atk_x","type":"t","url":"u","source":"s","extra":[1,2]}]`, `[[]]`, `{"token":"a"}`, `[{"token":"a"},{"token":"b"},{"token":"c"},{"token":"d"}]`} {
		f.Add([]byte(s))
	}
	const max = 3
	f.Fuzz(func(t *testing.T, body []byte) {
		ms, err := parseScanMatches(body, max)
		if err != nil {
			if ms != nil {
				t.Fatal("matches returned with an error")
			}
			return
		}
		if len(ms) > max {
			t.Fatalf("%d matches, bound %d", len(ms), max)
		}
		if len(ms) == 0 {
			return
		}
		b, err := json.Marshal(ms)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseScanMatches(b, max)
		if err != nil {
			t.Fatalf("re-encoded matches refused: %v", err)
		}
		if !reflect.DeepEqual(ms, again) {
			t.Fatalf("round trip changed %+v into %+v", ms, again)
		}
	})
}
