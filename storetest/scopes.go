package storetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// scopeCases check that stores keep a token's scopes, allowed ranges and
// last-used address, and that records without them read as before.
var scopeCases = []storeCase{
	{"Scopes, allowed ranges and the last-used address read back as written and can be changed and removed", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.Scopes = []string{"documents:read", "keys:read"}
		tk.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("192.0.2.7/32")}
		tk.LastUsedIP = netip.MustParseAddr("2001:db8::1")
		must(t, s.CreateToken(ctx, tk))
		for _, get := range []func() (*apitoken.Token, error){
			func() (*apitoken.Token, error) { return s.TokenByID(ctx, tk.ID) },
			func() (*apitoken.Token, error) { return s.TokenByHash(ctx, tk.Hash) },
		} {
			got, err := get()
			must(t, err)
			sameToken(t, got, tk)
		}
		listed, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		if len(listed) != 1 {
			t.Fatalf("listed %d tokens", len(listed))
		}
		sameToken(t, listed[0], tk)

		tk.Scopes = []string{"documents:write"}
		tk.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		tk.LastUsedIP = netip.MustParseAddr("198.51.100.9")
		must(t, s.UpdateToken(ctx, tk))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		sameToken(t, got, tk)

		tk.Scopes, tk.AllowedCIDRs, tk.LastUsedIP = nil, nil, netip.Addr{}
		must(t, s.UpdateToken(ctx, tk))
		got, err = s.TokenByID(ctx, tk.ID)
		must(t, err)
		sameToken(t, got, tk)
		if got.Scopes != nil || got.AllowedCIDRs != nil || got.LastUsedIP.IsValid() {
			t.Fatalf("removed fields read back as %v %v %v", got.Scopes, got.AllowedCIDRs, got.LastUsedIP)
		}
	}},
	{"A record without scopes, ranges or address reads with them empty", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		must(t, s.CreateToken(ctx, tk))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if len(got.Scopes) != 0 || len(got.AllowedCIDRs) != 0 || got.LastUsedIP.IsValid() {
			t.Fatalf("a plain record read back with %v %v %v", got.Scopes, got.AllowedCIDRs, got.LastUsedIP)
		}
		sameToken(t, got, tk)
	}},
	{"TouchTokens records the address of the latest use and keeps it when a later use knows none", func(t *testing.T, s apitoken.Store) {
		tk := Token(1, "acme", "u1")
		tk.AllowedCIDRs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		must(t, s.CreateToken(ctx, tk))
		first, second := netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("10.2.2.2")
		t1 := base.Add(time.Hour)
		must(t, s.TouchTokens(ctx, []apitoken.Touch{
			{ID: tk.ID, At: t1, IP: first},
			{ID: tk.ID, At: base.Add(time.Minute), IP: second}, // older: ignored
		}))
		got, err := s.TokenByID(ctx, tk.ID)
		must(t, err)
		if got.LastUsedIP != first || !got.LastUsed.Equal(t1) || got.Version != tk.Version {
			t.Fatalf("after touches: address %v, last used %v, version %d→%d", got.LastUsedIP, got.LastUsed, tk.Version, got.Version)
		}
		must(t, s.TouchTokens(ctx, []apitoken.Touch{{ID: tk.ID, At: t1.Add(time.Minute)}}))
		got, err = s.TokenByID(ctx, tk.ID)
		must(t, err)
		if got.LastUsedIP != first {
			t.Fatalf("a use without an address changed it to %v", got.LastUsedIP)
		}
		must(t, s.TouchTokens(ctx, []apitoken.Touch{{ID: tk.ID, At: t1.Add(2 * time.Minute), IP: second}}))
		got, err = s.TokenByID(ctx, tk.ID)
		must(t, err)
		if got.LastUsedIP != second || len(got.AllowedCIDRs) != 1 {
			t.Fatalf("latest address %v, ranges %v", got.LastUsedIP, got.AllowedCIDRs)
		}
	}},
}
