package tokenpage_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"net/url"

	"github.com/apitoken/apitoken"
)

// TestTheCreateFormOffersTheScopesTheUserHolds: the form lists the
// signed-in user's scopes, a token created with some holds only those,
// and the table shows scopes, allowed ranges and the last address.
func TestTheCreateFormOffersTheScopesTheUserHolds(t *testing.T) {
	s := newSiteWith(t, func(o *apitoken.Options) {
		o.Scopes = map[apitoken.Privilege][]string{
			apitoken.ReadOnly: {"documents:read"}, apitoken.Normal: {"documents:write"}, apitoken.Admin: {"users:manage"}}
	})
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	_, form := b.get("/new")
	if !strings.Contains(form, `name="scope" value="documents:read"`) || !strings.Contains(form, `name="scope" value="documents:write"`) {
		t.Fatalf("the form does not offer the user's scopes:\n%s", form)
	}
	if strings.Contains(form, `value="users:manage"`) {
		t.Fatal("the form offers a scope the user does not hold")
	}
	status, body := b.post("/tokens", url.Values{"description": {"dash"}, "privilege": {"normal"}, "app_state": {"allow"},
		"scope": {"documents:read"}}, "same-origin")
	if status != 200 {
		t.Fatalf("create: %d\n%s", status, body)
	}
	secret := secretRE.FindString(body)
	p, err := s.m.VerifyFrom(ctx, secret, "", netip.MustParseAddr("192.0.2.5"))
	if err != nil || !slices.Equal(p.Scopes, []string{"documents:read"}) {
		t.Fatalf("created token: %v %v", p.Scopes, err)
	}
	status, body = b.post("/tokens", url.Values{"description": {"x"}, "privilege": {"normal"}, "app_state": {"allow"},
		"scope": {"users:manage"}}, "same-origin")
	if status == 200 && secretRE.MatchString(body) {
		t.Fatal("a scope the user lacks was granted")
	}
	_, body = b.get("/")
	if !strings.Contains(body, `<code>documents:read</code>`) || !strings.Contains(body, `Last used from <code>192.0.2.5</code>`) {
		t.Fatalf("the table does not show the scopes and the last address:\n%s", body)
	}
}
