// Package clientaddr reads the address of the client that sent a request,
// believing X-Forwarded-For only from trusted proxies: one implementation
// for the Guard's allow-lists and package login's throttling.
package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how many X-Forwarded-For entries Of
// reads, from the right; a longer chain of trusted proxies is absurd.
const maxForwardedHops = 32

// Of returns the address of the client that sent r, for throttling and
// allow-lists (apitoken.Token.AllowedCIDRs). It is the connection's peer
// (r.RemoteAddr) unless that peer lies in one of the trusted prefixes (your own reverse
// proxies or load balancers): then it is the right-most X-Forwarded-For
// entry that is not itself trusted. Entries left of that one were written
// by the client and are ignored, so a client cannot choose its address by
// sending the header. With no trusted prefixes the header is never read.
//
// If every entry is trusted (or the header is missing) the answer is the
// left-most trusted hop; if the right-most untrusted entry is not an
// address, the answer is the trusted hop that reported it. IPv4-mapped IPv6
// addresses are returned as IPv4, and zones are dropped. An unparsable
// RemoteAddr gives the zero Addr: "unknown".
func Of(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseHostAddr(r.RemoteAddr)
	if !peer.IsValid() || !isTrusted(peer, trusted) {
		return peer
	}
	return forwardedClient(peer, r.Header.Values("X-Forwarded-For"), trusted)
}

// forwardedClient walks X-Forwarded-For lines (in header order) from the
// right, starting from a trusted peer, and returns the first untrusted hop.
func forwardedClient(peer netip.Addr, lines []string, trusted []netip.Prefix) netip.Addr {
	hop := peer
	seen := 0
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for rest != "" {
			if seen++; seen > maxForwardedHops {
				return hop
			}
			var entry string
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				rest, entry = rest[:j], rest[j+1:]
			} else {
				rest, entry = "", rest
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue // "a, , b" and trailing commas are seen in the wild
			}
			a := parseHostAddr(entry)
			if !a.IsValid() {
				return hop
			}
			if !isTrusted(a, trusted) {
				return a
			}
			hop = a
		}
	}
	return hop
}

// parseHostAddr parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" and
// normalises the address (IPv4-mapped to IPv4, no zone). Anything else is
// the zero Addr.
func parseHostAddr(s string) netip.Addr {
	if len(s) > 64 { // longer than any address with a port
		return netip.Addr{}
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normalAddr(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return normalAddr(a)
}

func normalAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
