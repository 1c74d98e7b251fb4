package oauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
)

// FuzzTokenForm feeds arbitrary methods, content types and bodies to the
// introspection and revocation request parser. It must never panic; a
// token it returns must be the body's one token parameter; a body over the
// bound is never accepted; and an error is one of the parser's fixed
// sentinels, which hold nothing of the input.
func FuzzTokenForm(f *testing.F) {
	tok, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	const form = "application/x-www-form-urlencoded"
	for _, seed := range [][3]string{
		{"POST", form, "token=" + tok},
		{"POST", form, "token=" + tok + "&token_type_hint=access_token"},
		{"POST", form + "; charset=utf-8", "token_type_hint=refresh_token&token=" + url.QueryEscape(tok)},
		{"POST", form, "token=a&token=a"},
		{"POST", form, "token=%zz"},
		{"POST", form, "token="},
		{"POST", form, "token;x=1"},
		{"POST", "application/json", `{"token":"x"}`},
		{"GET", form, "token=x"},
		{"POST", "multipart/form-data; boundary=x", "--x--"},
		{"POST", form, strings.Repeat("token=a&", 600)},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	const max = 4 << 10
	sentinels := []error{errFormMethod, errFormType, errFormTooLarge, errFormSyntax, errFormNoToken, errFormRepeated, errFormReadError}
	f.Fuzz(func(t *testing.T, method, contentType, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = "POST"
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Method = method
		r.Header.Set("Content-Type", contentType)
		got, err := tokenForm(httptest.NewRecorder(), r, max)
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s) && err == s
			}
			if !known {
				t.Fatalf("error %v is not one of the parser's sentinels", err)
			}
			return
		}
		if len(body) > max {
			t.Fatalf("a body of %d bytes was accepted", len(body))
		}
		if method != http.MethodPost {
			t.Fatalf("method %q was accepted", method)
		}
		q, qerr := url.ParseQuery(body)
		if qerr != nil || len(q["token"]) != 1 || q.Get("token") != got || got == "" {
			t.Fatalf("token %q is not the body's one token parameter (%q)", got, body)
		}
	})
}
