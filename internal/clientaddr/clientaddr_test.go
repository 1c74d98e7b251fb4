package clientaddr

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		name    string
		remote  string
		xff     []string // header lines, in order
		trusted []netip.Prefix
		want    string // "" is the zero Addr
	}{
		{"no proxies: the peer", "192.0.2.1:5555", nil, nil, "192.0.2.1"},
		{"no proxies: the header is ignored", "192.0.2.1:5555", []string{"198.51.100.7"}, nil, "192.0.2.1"},
		{"an untrusted peer's header is ignored", "192.0.2.1:5555", []string{"198.51.100.7"}, proxies, "192.0.2.1"},
		{"a trusted peer: the entry it appended", "10.1.2.3:80", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"a spoofed left part is ignored", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"trusted hops are skipped", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		{"several header lines read as one list", "10.1.2.3:80", []string{"6.6.6.6", "198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		{"spaces and empty entries", "10.1.2.3:80", []string{" 198.51.100.7 ,, "}, proxies, "198.51.100.7"},
		{"all trusted: the left-most hop", "10.1.2.3:80", []string{"10.7.7.7, 10.8.8.8"}, proxies, "10.7.7.7"},
		{"no header from a trusted peer: the peer", "10.1.2.3:80", nil, proxies, "10.1.2.3"},
		{"garbage: the hop that reported it", "10.1.2.3:80", []string{"198.51.100.7, not-an-ip, 10.9.9.9"}, proxies, "10.9.9.9"},
		{"garbage right of the peer: the peer", "10.1.2.3:80", []string{"unknown"}, proxies, "10.1.2.3"},
		{"an entry with a port", "10.1.2.3:80", []string{"198.51.100.7:4711"}, proxies, "198.51.100.7"},
		{"a bracketed IPv6 entry", "10.1.2.3:80", []string{"[2001:db8::1]"}, proxies, "2001:db8::1"},
		{"a bracketed IPv6 entry with a port", "10.1.2.3:80", []string{"[2001:db8::1]:443"}, proxies, "2001:db8::1"},
		{"a bare IPv6 entry", "[fd00::1]:80", []string{"2001:db8::2"}, proxies, "2001:db8::2"},
		{"an IPv6 peer", "[2001:db8::5]:1234", nil, nil, "2001:db8::5"},
		{"an IPv4-mapped peer is IPv4", "[::ffff:192.0.2.9]:1234", nil, nil, "192.0.2.9"},
		{"an IPv4-mapped trusted peer matches an IPv4 prefix", "[::ffff:10.0.0.1]:1", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"a zone is dropped", "[fe80::1%eth0]:1234", nil, nil, "fe80::1"},
		{"an unparsable peer is unknown", "pipe", nil, nil, ""},
		{"an empty peer is unknown", "", []string{"198.51.100.7"}, proxies, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = c.remote
			for _, l := range c.xff {
				r.Header.Add("X-Forwarded-For", l)
			}
			got := Of(r, c.trusted)
			if want := (netip.Addr{}); c.want != "" {
				want = netip.MustParseAddr(c.want)
				if got != want {
					t.Fatalf("ClientAddr = %v, want %v", got, want)
				}
			} else if got.IsValid() {
				t.Fatalf("ClientAddr = %v, want the zero Addr", got)
			}
		})
	}
}

func TestClientAddrReadsABoundedNumberOfHops(t *testing.T) {
	r := httptest.NewRequest("POST", "/login", nil)
	r.RemoteAddr = "10.0.0.1:80"
	r.Header.Set("X-Forwarded-For", "198.51.100.7,"+strings.Repeat("10.0.0.2,", 10_000)+"10.0.0.3")
	if got := Of(r, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}); got != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("a 10,000-hop chain of trusted proxies gave %v, want the last trusted hop read", got)
	}
}

// FuzzClientAddr feeds arbitrary peers and X-Forwarded-For lines. It must
// never panic; an untrusted peer is the answer whatever the header says;
// any other answer is the peer or an address written in the header; and it
// is normalised (no zone, IPv4 not mapped).
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:80", "198.51.100.7", ""},
		{"10.0.0.1:80", "6.6.6.6, 198.51.100.7, 10.0.0.2", "10.0.0.3"},
		{"[fd00::1]:80", "[2001:db8::1]:443", ""},
		{"192.0.2.1:1", "198.51.100.7", ""},
		{"10.0.0.1:80", " , ,", "garbage"},
		{"[::ffff:10.0.0.1]:80", "::ffff:198.51.100.7", ""},
		{"10.0.0.1:80", "[fe80::1%25eth0]", "fe80::1%eth0"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, remote, line1, line2 string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		r.Header.Add("X-Forwarded-For", line1)
		r.Header.Add("X-Forwarded-For", line2)
		got := Of(r, trusted)
		peer := parseHostAddr(remote)
		if !got.IsValid() {
			if peer.IsValid() {
				t.Fatalf("a valid peer %v gave the zero Addr", peer)
			}
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("%v is not normalised", got)
		}
		if !isTrusted(peer, trusted) {
			if got != peer {
				t.Fatalf("an untrusted peer %v gave %v", peer, got)
			}
			return
		}
		if got != peer && !strings.Contains(line1+","+line2, got.String()) && !strings.Contains(strings.ToLower(line1+","+line2), got.String()) {
			// The header may spell it differently (mapped, zoned, zero-padded):
			// it must at least parse from one of its entries.
			found := false
			for _, e := range strings.Split(line1+","+line2, ",") {
				if parseHostAddr(strings.TrimSpace(e)) == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("%v is neither the peer %v nor an entry of the header", got, peer)
			}
		}
	})
}
