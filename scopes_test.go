package apitoken_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// vocabulary is the example server's scopes by role.
var vocabulary = map[apitoken.Privilege][]string{
	apitoken.ReadOnly: {"documents:read", "keys:read"},
	apitoken.Normal:   {"documents:write", "keys:manage"},
	apitoken.Admin:    {"users:manage"},
}

// scopeEnv is a Manager with the vocabulary and a session of a user of
// each role.
type scopeEnv struct {
	m                           *apitoken.Manager
	admin, normal, reader       apitoken.Principal
	adminID, normalID, readerID string
}

func newScopeEnv(t testing.TB, o *apitoken.Options) *scopeEnv {
	t.Helper()
	if o == nil {
		o = &apitoken.Options{}
	}
	o.Scopes = vocabulary
	m, _ := newManager(t, o)
	e := &scopeEnv{m: m}
	for _, r := range []struct {
		role apitoken.Privilege
		p    *apitoken.Principal
		id   *string
	}{{apitoken.Admin, &e.admin, &e.adminID}, {apitoken.Normal, &e.normal, &e.normalID}, {apitoken.ReadOnly, &e.reader, &e.readerID}} {
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: r.role.String() + "@example.com", Role: r.role})
		must(t, err)
		l, err := m.StartSession(ctx, u.ID)
		must(t, err)
		*r.p, err = m.Verify(ctx, l.Secret, "")
		must(t, err)
		*r.id = u.ID
	}
	return e
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantScopes(t *testing.T, p apitoken.Principal, want ...string) {
	t.Helper()
	if !slices.Equal(p.Scopes, want) {
		t.Fatalf("scopes %v, want %v", p.Scopes, want)
	}
}

func TestScopeVocabularyIsValidated(t *testing.T) {
	for name, sc := range map[string]map[apitoken.Privilege][]string{
		"an unset privilege":      {0: {"a"}},
		"a privilege above admin": {apitoken.Admin + 1: {"a"}},
		"an empty name":           {apitoken.ReadOnly: {""}},
		"a space":                 {apitoken.ReadOnly: {"documents read"}},
		"a comma":                 {apitoken.ReadOnly: {"a,b"}},
		"a long name":             {apitoken.ReadOnly: {strings.Repeat("a", 65)}},
		"65 names": {apitoken.ReadOnly: func() []string {
			var out []string
			for i := range 65 {
				out = append(out, "s"+strings.Repeat("x", i))
			}
			return out
		}()},
	} {
		if _, err := apitoken.New(memstore.New(), &apitoken.Options{Scopes: sc}); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := apitoken.New(memstore.New(), &apitoken.Options{Scopes: vocabulary}); err != nil {
		t.Fatal(err)
	}
}

func TestUnscopedTokensHoldTheirRolesScopes(t *testing.T) {
	e := newScopeEnv(t, nil)
	wantScopes(t, e.admin, "documents:read", "documents:write", "keys:manage", "keys:read", "users:manage")
	wantScopes(t, e.normal, "documents:read", "documents:write", "keys:manage", "keys:read")
	wantScopes(t, e.reader, "documents:read", "keys:read")
	iss, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
	must(t, err)
	if iss.Token.Scopes != nil {
		t.Fatalf("an unscoped caller's default token has scopes %v", iss.Token.Scopes)
	}
	p, err := e.m.Verify(ctx, iss.Secret, "")
	must(t, err)
	wantScopes(t, p, "documents:read", "documents:write", "keys:manage", "keys:read")
	// Without a vocabulary nobody holds a scope and nothing changes.
	m, _ := newManager(t, nil)
	iss = issueAPIToken(t, m)
	p, err = m.Verify(ctx, iss.Secret, "")
	must(t, err)
	if p.Scopes != nil || p.Privilege != apitoken.Normal {
		t.Fatalf("without scopes: %+v", p)
	}
}

func TestScopedTokensAreCappedByTheOwnersRoleAtEveryVerification(t *testing.T) {
	e := newScopeEnv(t, nil)
	iss, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{Scopes: []string{"keys:manage", "documents:read"}})
	must(t, err)
	if !slices.Equal(iss.Token.Scopes, []string{"documents:read", "keys:manage"}) {
		t.Fatalf("stored scopes %v (want the vocabulary's order)", iss.Token.Scopes)
	}
	for range 2 { // a cache miss, then a hit
		p, err := e.m.Verify(ctx, iss.Secret, "")
		must(t, err)
		wantScopes(t, p, "documents:read", "keys:manage")
		if !p.HasScope("keys:manage") || p.HasScope("documents:write") {
			t.Fatal("HasScope disagrees with Scopes")
		}
	}
	ro := apitoken.ReadOnly
	_, err = e.m.UpdateUser(ctx, e.admin, e.normalID, apitoken.UserUpdate{Role: &ro})
	must(t, err)
	for range 2 {
		p, err := e.m.Verify(ctx, iss.Secret, "")
		must(t, err)
		wantScopes(t, p, "documents:read")
	}
}

func TestNoCredentialGrantsAScopeItLacks(t *testing.T) {
	e := newScopeEnv(t, nil)
	scoped, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Scopes: []string{"keys:manage", "documents:read"}})
	must(t, err)
	sp, err := e.m.Verify(ctx, scoped.Secret, "")
	must(t, err)

	// Issue: naming a scope the caller lacks, or an unknown one.
	if _, err := e.m.Issue(ctx, sp, apitoken.IssueRequest{Scopes: []string{"documents:write"}}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("granting a scope not held: %v", err)
	}
	if _, err := e.m.Issue(ctx, sp, apitoken.IssueRequest{Scopes: []string{"documents:delete"}}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Fatalf("an unknown scope: %v", err)
	}
	if _, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{Privilege: apitoken.ReadOnly, Scopes: []string{"documents:write"}}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Fatalf("a scope beyond the token's privilege: %v", err)
	}
	// A scoped caller's default is what it holds, never its role's all.
	child, err := e.m.Issue(ctx, sp, apitoken.IssueRequest{})
	must(t, err)
	if !slices.Equal(child.Token.Scopes, []string{"documents:read", "keys:manage"}) {
		t.Fatalf("a scoped caller's default token: %v", child.Token.Scopes)
	}

	// Update: neither adding a scope nor clearing the scopes (which would
	// hand the token all of its privilege's) nor raising the privilege of
	// an unscoped token beyond what the caller holds.
	for name, u := range map[string]apitoken.TokenUpdate{
		"add a scope":   {Scopes: &[]string{"documents:read", "users:manage"}},
		"clear scopes":  {Scopes: &[]string{}},
		"unknown scope": {Scopes: &[]string{"nope"}},
	} {
		if _, err := e.m.Update(ctx, sp, child.Token.ID, u); err == nil {
			t.Fatalf("update %s: allowed", name)
		}
	}
	narrowed, err := e.m.Update(ctx, sp, child.Token.ID, apitoken.TokenUpdate{Scopes: &[]string{"documents:read"}})
	must(t, err)
	if !slices.Equal(narrowed.Scopes, []string{"documents:read"}) {
		t.Fatalf("narrowed to %v", narrowed.Scopes)
	}
	lowered, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Privilege: apitoken.ReadOnly})
	must(t, err)
	admin := apitoken.Admin
	if _, err := e.m.Update(ctx, sp, lowered.Token.ID, apitoken.TokenUpdate{Privilege: &admin}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("raising an unscoped token's privilege past the caller's scopes: %v", err)
	}

	// Rotate: a scoped caller cannot rotate a token holding more than it.
	wide, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{})
	must(t, err)
	if _, err := e.m.Rotate(ctx, sp, wide.Token.ID, 0); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("rotating a wider token: %v", err)
	}
	if _, err := e.m.Rotate(ctx, sp, child.Token.ID, 0); err != nil {
		t.Fatalf("rotating a token within the caller's scopes: %v", err)
	}

	// Promote: an admin token scoped without users:manage cannot lift a
	// user token's owner cap onto scopes it lacks.
	userTok, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
	must(t, err)
	if _, err := e.m.Promote(ctx, sp, userTok.Token.ID); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("promoting a token with scopes the admin lacks: %v", err)
	}

	// IssueFor: the host's authority is the user's role.
	if _, err := e.m.IssueFor(ctx, "acme", e.readerID, apitoken.IssueRequest{Scopes: []string{"documents:write"}}); err == nil {
		t.Fatal("IssueFor gave a read-only user documents:write")
	}
	iss, err := e.m.IssueFor(ctx, "acme", e.readerID, apitoken.IssueRequest{Scopes: []string{"keys:read"}})
	must(t, err)
	p, err := e.m.Verify(ctx, iss.Secret, "")
	must(t, err)
	wantScopes(t, p, "keys:read")
}

func TestAllowListsRefuseOtherAddressesAfterVerification(t *testing.T) {
	e := newScopeEnv(t, nil)
	inside, outside := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.1")
	iss, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}})
	must(t, err)
	for range 2 { // a miss, then a hit
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", inside); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", netip.MustParseAddr("::ffff:10.9.9.9")); err != nil {
			t.Fatalf("an IPv4-mapped address inside: %v", err)
		}
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", netip.MustParseAddr("2001:db8::7")); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", outside); apitoken.HTTPErrorOf(err).Code != "address_not_allowed" {
			t.Fatalf("outside: %v", err)
		}
		if _, err := e.m.Verify(ctx, iss.Secret, ""); apitoken.HTTPErrorOf(err).Code != "address_not_allowed" {
			t.Fatalf("no address: %v", err)
		}
	}
	// A refused use records no application.
	if _, err := e.m.VerifyFrom(ctx, iss.Secret, "from-outside", outside); apitoken.HTTPErrorOf(err).Code != "address_not_allowed" {
		t.Fatal(err)
	}
	got, err := e.m.Get(ctx, e.normal, iss.Token.ID)
	must(t, err)
	if got.App("from-outside") >= 0 {
		t.Fatal("a use from outside recorded its application")
	}
	// Introspection knows no address: the token is inactive there.
	if p, _, _, err := e.m.Introspect(ctx, e.admin, iss.Secret); err != nil || p.TokenID != "" {
		t.Fatalf("introspected an allow-listed token as active: %+v %v", p, err)
	}
	// Bad lists.
	for name, list := range map[string][]netip.Prefix{
		"invalid":     {{}},
		"IPv4-mapped": {netip.MustParsePrefix("::ffff:10.0.0.0/104")},
		"too many": func() []netip.Prefix {
			var out []netip.Prefix
			for i := range 33 {
				out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
			}
			return out
		}(),
	} {
		if _, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{AllowedCIDRs: list}); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Stored masked, sorted, without duplicates.
	iss2, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}})
	must(t, err)
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}; !slices.Equal(iss2.Token.AllowedCIDRs, want) {
		t.Fatalf("stored %v", iss2.Token.AllowedCIDRs)
	}
}

func TestAllowListsPassToEveryTokenTheirHolderMakes(t *testing.T) {
	e := newScopeEnv(t, nil)
	ten := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	in := netip.MustParseAddr("10.0.0.1")
	iss, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{AllowedCIDRs: ten})
	must(t, err)
	p, err := e.m.VerifyFrom(ctx, iss.Secret, "", in)
	must(t, err)
	child, err := e.m.Issue(ctx, p, apitoken.IssueRequest{})
	must(t, err)
	if !slices.Equal(child.Token.AllowedCIDRs, ten) {
		t.Fatalf("a restricted caller's token is allowed from %v", child.Token.AllowedCIDRs)
	}
	if _, err := e.m.Issue(ctx, p, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("a wider range: %v", err)
	}
	narrow, err := e.m.Issue(ctx, p, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	must(t, err)
	if _, err := e.m.Update(ctx, p, narrow.Token.ID, apitoken.TokenUpdate{AllowedCIDRs: &[]netip.Prefix{}}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("removing the allow-list: %v", err)
	}
	free, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{})
	must(t, err)
	if _, err := e.m.Rotate(ctx, p, free.Token.ID, 0); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("rotating an unrestricted token from a restricted one: %v", err)
	}
	// An unrestricted caller may lift it.
	up, err := e.m.Update(ctx, e.admin, narrow.Token.ID, apitoken.TokenUpdate{AllowedCIDRs: &[]netip.Prefix{}})
	must(t, err)
	if up.AllowedCIDRs != nil {
		t.Fatalf("allow-list %v after removal", up.AllowedCIDRs)
	}
}

func TestLastUsedAddressIsRecordedAndListed(t *testing.T) {
	for _, cacheSize := range []int{0, -1} {
		e := newScopeEnv(t, &apitoken.Options{CacheSize: cacheSize})
		iss, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
		must(t, err)
		a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::2")
		for _, addr := range []netip.Addr{a, a, b, b} {
			if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", addr); err != nil {
				t.Fatal(err)
			}
		}
		got, err := e.m.Get(ctx, e.normal, iss.Token.ID)
		must(t, err)
		if got.LastUsedIP != b {
			t.Fatalf("cache %d: LastUsedIP %v, want %v", cacheSize, got.LastUsedIP, b)
		}
		time.Sleep(time.Millisecond) // a later use, by the clock
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", a); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.Verify(ctx, iss.Secret, ""); err != nil { // no address: keeps the last one
			t.Fatal(err)
		}
		page, err := e.m.List(ctx, e.normal, apitoken.ListOptions{})
		must(t, err)
		if len(page.Items) != 1 || page.Items[0].LastUsedIP != a {
			t.Fatalf("cache %d: listed %+v", cacheSize, page.Items)
		}
	}
}

func TestGuardScopeGateAndAllowLists(t *testing.T) {
	e := newScopeEnv(t, nil)
	proxy := netip.MustParsePrefix("10.255.0.0/16")
	plain := apitoken.NewGuard(e.m, &apitoken.GuardOptions{QueryToken: true})
	proxied := apitoken.NewGuard(e.m, &apitoken.GuardOptions{QueryToken: true, TrustedProxies: []netip.Prefix{proxy}})
	reader, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{Scopes: []string{"documents:read"}})
	must(t, err)
	fenced, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	must(t, err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	type req struct {
		name   string
		g      *apitoken.Guard
		h      func(*apitoken.Guard) http.Handler
		secret string
		remote string
		xff    string
		query  bool
		status int
		code   string
	}
	read := func(g *apitoken.Guard) http.Handler { return g.Handler(g.RequireScope("documents:read")(ok)) }
	write := func(g *apitoken.Guard) http.Handler { return g.Handler(g.RequireScope("documents:write")(ok)) }
	open := func(g *apitoken.Guard) http.Handler { return g.Handler(ok) }
	fwd := func(g *apitoken.Guard) http.Handler { return g.ForwardAuth() }
	for _, c := range []req{
		{"a scoped token passes its scope's gate", plain, read, reader.Secret, "192.0.2.1:1", "", false, 200, ""},
		{"a scoped token is refused another scope's gate", plain, write, reader.Secret, "192.0.2.1:1", "", false, 403, "insufficient_scope"},
		{"a gate for an undeclared scope refuses everyone", plain, func(g *apitoken.Guard) http.Handler { return g.Handler(g.RequireScope("nope")(ok)) }, reader.Secret, "192.0.2.1:1", "", false, 403, "insufficient_scope"},
		{"an allow-listed token from inside", plain, open, fenced.Secret, "198.51.100.4:1", "", false, 200, ""},
		{"an allow-listed token from outside", plain, open, fenced.Secret, "192.0.2.1:1", "", false, 403, "address_not_allowed"},
		{"a spoofed X-Forwarded-For without trusted proxies is ignored", plain, open, fenced.Secret, "192.0.2.1:1", "198.51.100.4", false, 403, "address_not_allowed"},
		{"a spoofed X-Forwarded-For from an untrusted peer is ignored", proxied, open, fenced.Secret, "192.0.2.1:1", "198.51.100.4", false, 403, "address_not_allowed"},
		{"X-Forwarded-For from a trusted proxy: inside", proxied, open, fenced.Secret, "10.255.0.1:1", "6.6.6.6, 198.51.100.4", false, 200, ""},
		{"X-Forwarded-For from a trusted proxy: outside", proxied, open, fenced.Secret, "10.255.0.1:1", "198.51.100.4, 192.0.2.1", false, 403, "address_not_allowed"},
		{"a query token from outside", plain, open, fenced.Secret, "192.0.2.1:1", "", true, 403, "address_not_allowed"},
		{"forward auth from outside", plain, fwd, fenced.Secret, "192.0.2.1:1", "", false, 403, "address_not_allowed"},
		{"forward auth behind a trusted proxy, client inside", proxied, fwd, fenced.Secret, "10.255.0.1:1", "198.51.100.4", false, 200, ""},
		{"forward auth behind a trusted proxy, client outside", proxied, fwd, fenced.Secret, "10.255.0.1:1", "192.0.2.1", false, 403, "address_not_allowed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := "/x"
			if c.query {
				target = "/x?token=" + c.secret
			}
			r := httptest.NewRequest("GET", target, nil)
			r.RemoteAddr = c.remote
			if !c.query {
				r.Header.Set("Authorization", "Bearer "+c.secret)
			}
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			rec := httptest.NewRecorder()
			c.h(c.g).ServeHTTP(rec, r)
			got := rec.Code
			if got == 204 {
				got = 200
			}
			if got != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.code != "" {
				assertErrorBody(t, rec, c.code)
			}
		})
	}
	// Forward auth reports the scopes and applies a scope asked in its URL.
	r := httptest.NewRequest("GET", "/auth?scope=documents:read", nil)
	r.Header.Set("Authorization", "Bearer "+reader.Secret)
	rec := httptest.NewRecorder()
	plain.ForwardAuth().ServeHTTP(rec, r)
	if rec.Code != 200 || rec.Header().Get("X-Auth-Scopes") != "documents:read" {
		t.Fatalf("forward auth: %d, scopes %q", rec.Code, rec.Header().Get("X-Auth-Scopes"))
	}
	r = httptest.NewRequest("GET", "/auth?scope=documents:write", nil)
	r.Header.Set("Authorization", "Bearer "+reader.Secret)
	rec = httptest.NewRecorder()
	plain.ForwardAuth().ServeHTTP(rec, r)
	if rec.Code != 403 {
		t.Fatalf("forward auth with a scope not held: %d", rec.Code)
	}
	assertErrorBody(t, rec, "insufficient_scope")
}

// BenchmarkVerifyHotScopesAllowList compares a hot verification of a
// token with narrowed scopes and an allow-list against one of a plain
// token, alternating the two in small batches within each iteration (and
// which goes first), so that both sides see the same machine state. It
// reports each side's mean ns per verification and the median of the
// per-iteration ratios (scoped / plain), which a busy machine's spikes
// move least.
func BenchmarkVerifyHotScopesAllowList(b *testing.B) {
	e := newScopeEnv(b, &apitoken.Options{HashKey: []byte("0123456789abcdef0123456789abcdef")})
	plain, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
	must(b, err)
	fenced, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{Scopes: []string{"documents:read", "keys:read"},
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.0.0.0/8")}})
	must(b, err)
	addr := netip.MustParseAddr("10.1.2.3")
	for _, s := range []string{plain.Secret, fenced.Secret, plain.Secret, fenced.Secret} {
		if _, err := e.m.VerifyFrom(ctx, s, "", addr); err != nil {
			b.Fatal(err)
		}
	}
	const batch = 64
	var plainNs, fencedNs time.Duration
	run := func(secret string) time.Duration {
		start := time.Now()
		for range batch {
			if _, err := e.m.VerifyFrom(ctx, secret, "", addr); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var ratios [8192]float64
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var p, f time.Duration
		if n%2 == 0 {
			p = run(plain.Secret)
			f = run(fenced.Secret)
		} else {
			f = run(fenced.Secret)
			p = run(plain.Secret)
		}
		plainNs, fencedNs = plainNs+p, fencedNs+f
		ratios[n%len(ratios)] = float64(f) / float64(p)
		n++
	}
	sample := slices.Clone(ratios[:min(n, len(ratios))])
	slices.Sort(sample)
	b.ReportMetric(float64(plainNs)/float64(n*batch), "plain-ns/verify")
	b.ReportMetric(float64(fencedNs)/float64(n*batch), "scoped+allowlist-ns/verify")
	b.ReportMetric(sample[len(sample)/2], "median-ratio")
}

// BenchmarkGuardScopeGate is the Guard's hot path with a scope gate, for
// a plain token and for one with narrowed scopes and an allow-list.
func BenchmarkGuardScopeGate(b *testing.B) {
	e := newScopeEnv(b, &apitoken.Options{HashKey: []byte("0123456789abcdef0123456789abcdef")})
	plain, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
	must(b, err)
	fenced, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{Scopes: []string{"documents:read"},
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	must(b, err)
	g := apitoken.NewGuard(e.m, nil)
	h := g.Handler(g.RequireScope("documents:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })))
	for _, c := range []struct{ name, secret string }{{"plain", plain.Secret}, {"scoped+allowlist", fenced.Secret}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/search", nil)
			auth := []string{"Bearer " + c.secret}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				req.Header["Authorization"] = auth
				h.ServeHTTP(w, req)
			}
			if w.code != 204 {
				b.Fatalf("status %d", w.code)
			}
		})
	}
}

// TestConcurrentUsesFromManyAddresses: verifications of one hot token from
// several addresses at once race on its cache slot's address; under -race
// they must not, and the recorded address is one of them.
func TestConcurrentUsesFromManyAddresses(t *testing.T) {
	e := newScopeEnv(t, nil)
	iss, err := e.m.Issue(ctx, e.normal, apitoken.IssueRequest{})
	must(t, err)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::3")}
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			for i := range 500 {
				if _, verr := e.m.VerifyFrom(ctx, iss.Secret, "", addrs[(g+i)%len(addrs)]); verr != nil {
					err = verr
				}
			}
			done <- err
		}()
	}
	for range 4 {
		must(t, <-done)
	}
	got, err := e.m.Get(ctx, e.normal, iss.Token.ID)
	must(t, err)
	if !slices.Contains(addrs, got.LastUsedIP) {
		t.Fatalf("LastUsedIP %v", got.LastUsedIP)
	}
}

// A caller limited to some ranges may not raise the privilege or scopes
// of a token that works from anywhere: that would hand out, from outside
// its ranges, rights it can use only inside them. Narrowing stays allowed,
// and raising a token limited to the caller's ranges too.
func TestARestrictedCallerCannotRaiseAnUnrestrictedToken(t *testing.T) {
	e := newScopeEnv(t, nil)
	ten := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	restricted, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{AllowedCIDRs: ten})
	must(t, err)
	p, err := e.m.VerifyFrom(ctx, restricted.Secret, "", netip.MustParseAddr("10.0.0.1"))
	must(t, err)
	low, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Privilege: apitoken.ReadOnly, Scopes: []string{"documents:read"}})
	must(t, err)
	admin := apitoken.Admin
	for name, u := range map[string]apitoken.TokenUpdate{
		"privilege":            {Privilege: &admin},
		"scopes":               {Scopes: &[]string{"documents:read", "keys:read"}},
		"privilege and scopes": {Privilege: &admin, Scopes: &[]string{"users:manage", "keys:manage"}},
	} {
		if _, err := e.m.Update(ctx, p, low.Token.ID, u); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Errorf("raising the %s of an unrestricted token from a restricted caller: %v", name, err)
		}
	}
	got, err := e.m.VerifyFrom(ctx, low.Secret, "", netip.MustParseAddr("203.0.113.9"))
	must(t, err)
	if got.Privilege != apitoken.ReadOnly || got.HasScope("keys:read") {
		t.Fatalf("the token changed: %+v", got)
	}
	desc := "narrowed"
	if _, err := e.m.Update(ctx, p, low.Token.ID, apitoken.TokenUpdate{Description: &desc}); err != nil {
		t.Fatalf("a change that grants nothing: %v", err)
	}
	inside, err := e.m.Issue(ctx, p, apitoken.IssueRequest{Privilege: apitoken.ReadOnly, AllowedCIDRs: ten})
	must(t, err)
	normal := apitoken.Normal
	if _, err := e.m.Update(ctx, p, inside.Token.ID, apitoken.TokenUpdate{Privilege: &normal}); err != nil {
		t.Fatalf("raising a token limited to the caller's own ranges: %v", err)
	}
}

// Letting more applications use a token is a grant, like raising its
// privilege: a caller limited to some ranges may allow an application, or
// loosen the default app state, only on a token limited to its own ranges,
// and is refused as when it raises one. Denying stays open to it, and a
// caller without an allow-list may do all of it.
func TestARestrictedCallerCannotApproveForAnUnrestrictedToken(t *testing.T) {
	e := newScopeEnv(t, nil)
	ten := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	inside := netip.MustParseAddr("10.1.2.3")
	restricted, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{AllowedCIDRs: ten})
	must(t, err)
	r, err := e.m.VerifyFrom(ctx, restricted.Secret, "", netip.MustParseAddr("10.0.0.1"))
	must(t, err)
	// The refusal to compare with: raising the privilege of an
	// unrestricted token from the same caller.
	low, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Privilege: apitoken.ReadOnly})
	must(t, err)
	admin := apitoken.Admin
	_, raise := e.m.Update(ctx, r, low.Token.ID, apitoken.TokenUpdate{Privilege: &admin})
	if !errors.Is(raise, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("raising an unrestricted token from a restricted caller: %v", raise)
	}

	// A change and the state it sets: "grafana"'s or the default.
	type change struct {
		do    func(p apitoken.Principal, id string) error
		state func(*apitoken.Token) apitoken.AppState
	}
	setApp := func(s apitoken.AppState) change {
		return change{func(p apitoken.Principal, id string) error {
			_, err := e.m.SetAppState(ctx, p, id, "grafana", s)
			return err
		}, func(t *apitoken.Token) apitoken.AppState { return t.Apps[t.App("grafana")].State }}
	}
	setDefault := func(s apitoken.AppState, cidrs ...netip.Prefix) change {
		return change{func(p apitoken.Principal, id string) error {
			u := apitoken.TokenUpdate{DefaultAppState: &s}
			if cidrs != nil {
				u.AllowedCIDRs = &cidrs
			}
			_, err := e.m.Update(ctx, p, id, u)
			return err
		}, func(t *apitoken.Token) apitoken.AppState { return t.DefaultAppState }}
	}
	var (
		none    []netip.Prefix
		sub     = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}
		wider   = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24")}
		allow   = apitoken.Allow
		pending = apitoken.Pending
		deny    = apitoken.Deny
	)
	for _, c := range []struct {
		name    string
		caller  apitoken.Principal
		cidrs   []netip.Prefix    // the target token's allow-list
		dflt    apitoken.AppState // its default, which "grafana" is recorded with
		change  change
		refused bool
		after   apitoken.AppState // the state the change sets, afterwards
	}{
		{"restricted allows a pending app of an unrestricted token", r, none, pending, setApp(allow), true, pending},
		{"restricted allows a denied app of an unrestricted token", r, none, deny, setApp(allow), true, deny},
		{"restricted allows a pending app of a token wider than itself", r, wider, pending, setApp(allow), true, pending},
		{"restricted allows a pending app of a token within its ranges", r, sub, pending, setApp(allow), false, allow},
		{"restricted allows a pending app of a token with its own ranges", r, ten, pending, setApp(allow), false, allow},
		{"restricted allows an allowed app of an unrestricted token", r, none, allow, setApp(allow), false, allow},
		{"restricted denies an app of an unrestricted token", r, none, pending, setApp(deny), false, deny},
		{"restricted sets default allow on an unrestricted token", r, none, pending, setDefault(allow), true, pending},
		{"restricted sets default pending on an unrestricted deny token", r, none, deny, setDefault(pending), true, deny},
		{"restricted sets default allow on a token wider than itself", r, wider, deny, setDefault(allow), true, deny},
		{"restricted sets default allow on a token within its ranges", r, sub, pending, setDefault(allow), false, allow},
		{"restricted sets default allow while narrowing the token to its ranges", r, none, pending, setDefault(allow, sub...), false, allow},
		{"restricted sets default deny on an unrestricted token", r, none, allow, setDefault(deny), false, deny},
		{"restricted sets default pending on an unrestricted allow token", r, none, allow, setDefault(pending), false, pending},
		{"restricted keeps default allow on an unrestricted token", r, none, allow, setDefault(allow), false, allow},
		{"unrestricted admin allows a pending app of an unrestricted token", e.admin, none, pending, setApp(allow), false, allow},
		{"unrestricted admin denies an app of an unrestricted token", e.admin, none, pending, setApp(deny), false, deny},
		{"unrestricted admin sets default allow on an unrestricted token", e.admin, none, deny, setDefault(allow), false, allow},
		{"unrestricted admin sets default pending on an unrestricted token", e.admin, none, deny, setDefault(pending), false, pending},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{AllowedCIDRs: c.cidrs, DefaultAppState: c.dflt})
			must(t, err)
			_, _ = e.m.VerifyFrom(ctx, tok.Secret, "grafana", inside) // records "grafana" in state c.dflt
			err = c.change.do(c.caller, tok.Token.ID)
			switch {
			case c.refused && (!errors.Is(err, apitoken.ErrInsufficientPrivilege) || apitoken.HTTPErrorOf(err) != apitoken.HTTPErrorOf(raise)):
				t.Fatalf("got %v (%+v), want the refusal of a raise, %+v", err, apitoken.HTTPErrorOf(err), apitoken.HTTPErrorOf(raise))
			case !c.refused && err != nil:
				t.Fatal(err)
			}
			got, err := e.m.Get(ctx, e.admin, tok.Token.ID)
			must(t, err)
			if st := c.change.state(got); st != c.after {
				t.Fatalf("afterwards %v, want %v", st, c.after)
			}
		})
	}
}

// An empty Scopes list makes a token unscoped (every scope of its
// privilege) when the caller holds them all.
func TestClearingScopesMakesATokenUnscoped(t *testing.T) {
	e := newScopeEnv(t, nil)
	tok, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Scopes: []string{"documents:read"}})
	must(t, err)
	got, err := e.m.Update(ctx, e.admin, tok.Token.ID, apitoken.TokenUpdate{Scopes: &[]string{}})
	must(t, err)
	if got.Scopes != nil {
		t.Fatalf("scopes after clearing: %v", got.Scopes)
	}
	p, err := e.m.Verify(ctx, tok.Secret, "")
	must(t, err)
	if !p.HasScope("documents:write") {
		t.Fatalf("an unscoped token lacks a scope of its privilege: %v", p.Scopes)
	}
}

// An unknown scope name is quoted in the refusal, but a token pasted as a
// scope name is not: not even the start of it reaches the error.
func TestATokenGivenAsAScopeNeverReachesTheError(t *testing.T) {
	e := newScopeEnv(t, nil)
	leaked := issueAPIToken(t, e.m).Secret
	_, err := e.m.Issue(ctx, e.admin, apitoken.IssueRequest{Scopes: []string{leaked}})
	if !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Fatalf("a token as a scope name: %v", err)
	}
	if msg := err.Error() + apitoken.HTTPErrorOf(err).Message; strings.Contains(msg, leaked[4:16]) {
		t.Fatalf("the refusal quotes the token: %s", msg)
	}
}
