package main

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeBody feeds arbitrary request bodies to the strict decoder: it
// must never panic, and any error it returns must be a client error (4xx)
// with a bounded message.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"description":"x","privilege":"normal"}`, // valid
		`{"description":"x","description":"y"}`,    // duplicate
		`{"Description":"x"}`,                      // case variant
		`{"description":"x"} {}`,                   // trailing
		`{"expires":"2030-01-01T00:00:00Z"}`,       // a time
		`{"description":[[[[[[[[[[]]]]]]]]]]}`,     // nesting
		`{"privilege":"root"}`,                     // bad enum
		"\xff\xfe",                                 // not UTF-8
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		var v createKeyRequest
		err := decodeBody(rec, req, 4096, &v)
		if err == nil {
			return
		}
		be, ok := err.(*errBody)
		if !ok || be.status < 400 || be.status >= 500 || len(be.msg) > 512 {
			t.Fatalf("error %T %v is not a bounded client error", err, err)
		}
	})
}
