package login

import (
	"net/http"
	"net/netip"

	"github.com/apitoken/apitoken"
)

// ClientAddr returns the address of the client that sent r, for
// Service.Login's throttling: apitoken.ClientAddr, which the Guard also
// uses for token allow-lists, so both read an address the same way.
func ClientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return apitoken.ClientAddr(r, trusted)
}

func normalAddr(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
