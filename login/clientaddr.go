package login

import (
	"net/http"
	"net/netip"

	"github.com/apitoken/apitoken/internal/clientaddr"
)

// ClientAddr returns the address of the client that sent r, for
// Service.Login's throttling. It is the connection's peer (r.RemoteAddr)
// unless that peer lies in one of the trusted prefixes (your own reverse
// proxies or load balancers): then it is the right-most X-Forwarded-For
// entry that is not itself trusted, so a client cannot choose its address
// by sending the header. With no trusted prefixes the header is never
// read. The Guard reads addresses for token allow-lists the same way
// (apitoken.GuardOptions.TrustedProxies). An unparsable RemoteAddr gives
// the zero Addr, which Login treats as "unknown".
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientaddr.Of(r, trusted)
}
