package apitoken

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary Authorization, extra-header and query values
// to the Guard's extraction. It must never panic; a token it returns must
// come from the input; and the request the next handler would see must not
// carry that token anywhere.
func FuzzExtract(f *testing.F) {
	tok, _ := Format{}.Generate(KindAPI)
	for _, seed := range [][3]string{
		{"Bearer " + tok, "", ""},                           // the common case
		{"bearer   " + tok + "  ", "", ""},                  // case and spaces
		{"", tok, ""},                                       // the extra header
		{"", "", "token=" + tok},                            // the query
		{"", "", "token=" + tok + "&token=" + tok + "&a=b"}, // repeated, agreeing
		{"Bearer a", "b", "token=c"},                        // three different
		{"Basic " + "Y2k6" + "YWJj", "", ""},                // Basic ci:abc
		{"Basic %%%", "", ""},                               // not base64
		{"Token x", "", ""},                                 // unknown scheme
		{"", "", "token=%zz&token=x"},                       // a broken escape
		{"", "", "%74oken=" + tok},                          // an escaped name
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	g := NewGuard(nil, &GuardOptions{Headers: []string{"X-Circonus-Auth-Token"}, QueryToken: true, Basic: true})
	f.Fuzz(func(t *testing.T, auth, extra, rawQuery string) {
		r := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		if extra != "" {
			r.Header.Set("X-Circonus-Auth-Token", extra)
		}
		c, err := g.extract(r)
		if err != nil {
			return
		}
		if c.token == "" {
			t.Fatal("success with an empty token")
		}
		q, _ := url.ParseQuery(rawQuery)
		fromQuery := false
		for _, v := range q["token"] {
			fromQuery = fromQuery || strings.TrimSpace(v) == c.token
		}
		if !strings.Contains(auth, c.token) && !strings.Contains(extra, c.token) && !fromQuery &&
			!strings.HasPrefix(strings.ToLower(strings.TrimSpace(auth)), "basic") {
			t.Fatalf("token %q is not from the input", c.token)
		}
		down := g.downstream(r, Principal{}, c.fromQuery)
		if down.Header.Get("Authorization") != "" || down.Header.Get("X-Circonus-Auth-Token") != "" {
			t.Fatal("a credential header reached the next handler")
		}
		if c.fromQuery {
			dq, _ := url.ParseQuery(down.URL.RawQuery)
			if dq.Has("token") {
				t.Fatalf("token parameter survived in %q", down.URL.RawQuery)
			}
		}
	})
}
