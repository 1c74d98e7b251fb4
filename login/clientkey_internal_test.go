package login

import (
	"net/netip"
	"testing"
)

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"::ffff:192.0.2.1", "192.0.2.1", true},
		{"fe80::1%eth0", "fe80::2", true},
	} {
		ka, kb := clientKey(netip.MustParseAddr(c.a)), clientKey(netip.MustParseAddr(c.b))
		if (ka == kb) != c.same {
			t.Errorf("%s → %q, %s → %q: same bucket %v, want %v", c.a, ka, c.b, kb, ka == kb, c.same)
		}
	}
	if clientKey(netip.Addr{}) != "unknown" {
		t.Error("the zero Addr is not the unknown bucket")
	}
	if clientKey(netip.MustParseAddr("0.0.0.0")) == "unknown" {
		t.Error("a real address shares the unknown bucket")
	}
}
