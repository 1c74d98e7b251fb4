package apitoken

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzForwardedURI feeds arbitrary forwarded request URIs (X-Original-URI,
// X-Forwarded-Uri) to forward authentication's extraction and to the URI
// it sends back. It must never panic; a token it finds must be in the
// input; and the URI sent back must keep the path and hold no token
// parameter.
func FuzzForwardedURI(f *testing.F) {
	tok, _ := Format{}.Generate(KindAPI)
	for _, seed := range []string{
		"/docs?token=" + tok,
		"/docs?a=1&token=" + tok + "&b=2",
		"/docs?%74oken=" + tok,
		"/docs?token=" + tok + "#frag",
		"/docs?token=%zz&token=" + tok,
		"/?token=&&&",
		"?token=" + tok,
		"/a?b?token=" + tok,
		"",
	} {
		f.Add(seed)
	}
	g := NewGuard(nil, &GuardOptions{QueryToken: true})
	f.Fuzz(func(t *testing.T, uri string) {
		h := http.Header{}
		h.Set(headerOriginalURI, uri)
		c, err := g.extractFrom(h, uriQuery(uri))
		if err == nil && !strings.Contains(uri, c.token) && !strings.Contains(uri, url.QueryEscape(c.token)) {
			q, _ := url.ParseQuery(uriQuery(uri))
			found := false
			for _, v := range q["token"] {
				found = found || strings.TrimSpace(v) == c.token
			}
			if !found {
				t.Fatalf("token %q is not from %q", c.token, uri)
			}
		}
		clean := withoutQueryToken(uri)
		path, _, _ := strings.Cut(uri, "?")
		if !strings.HasPrefix(clean, path) {
			t.Fatalf("%q lost its path in %q", uri, clean)
		}
		if q, _ := url.ParseQuery(uriQuery(clean)); q.Has("token") {
			t.Fatalf("a token parameter survived in %q", clean)
		}
	})
}
