package apitoken

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
)

// errAddressNotAllowed means the token verified but the request came from
// an address outside its allow-list (Token.AllowedCIDRs), or from no known
// address at all: a token with an allow-list works only where the client
// address is known (Manager.VerifyFrom, the Guard, ForwardAuth, package
// grpcauth), never through a plain Manager.Verify. It is a precise case of
// ErrInsufficientPrivilege, answered with 403 address_not_allowed.
var errAddressNotAllowed = &refinedError{ErrInsufficientPrivilege, "apitoken: token not allowed from this address",
	HTTPError{http.StatusForbidden, codeAddressNotAllowed, "this token may not be used from this address"}}

// maxAllowedCIDRs bounds Token.AllowedCIDRs.
const maxAllowedCIDRs = 32

// checkAllowedCIDRs validates an allow-list and returns it in canonical
// form: each prefix masked, duplicates dropped, sorted. IPv4 ranges must be
// written as IPv4 (an IPv4-mapped IPv6 prefix is refused: client addresses
// are compared unmapped, so it would never match).
func checkAllowedCIDRs(in []netip.Prefix) ([]netip.Prefix, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxAllowedCIDRs {
		return nil, fmt.Errorf("%w: %d allowed ranges; at most %d", ErrInvalidArgument, len(in), maxAllowedCIDRs)
	}
	out := make([]netip.Prefix, 0, len(in))
	for _, p := range in {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: an allowed range is not a valid CIDR prefix", ErrInvalidArgument)
		}
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%w: allowed range %s: write IPv4 ranges as IPv4", ErrInvalidArgument, p)
		}
		out = append(out, p.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out), nil
}

// within reports whether every address of inner lies in outer: an empty
// outer allows everything, an empty inner (no allow-list) lies only in an
// empty outer. A credential with an allow-list passes its limits on
// to any token it issues, rotates or changes.
func within(inner, outer []netip.Prefix) bool {
	if len(outer) == 0 {
		return true
	}
	if len(inner) == 0 {
		return false
	}
	for _, p := range inner {
		if !slices.ContainsFunc(outer, func(o netip.Prefix) bool {
			return o.Bits() <= p.Bits() && o.Contains(p.Addr())
		}) {
			return false
		}
	}
	return true
}

// allowEntry is the size of one prefix in an encoded allow-list: the
// address's 16 bytes (IPv4 as IPv4-mapped) and its bit count, with 128
// added for an IPv4 prefix.
const allowEntry = 17

// encodeAllowList flattens prefixes into bytes for the verification
// cache, which holds no pointers.
func encodeAllowList(prefixes []netip.Prefix) string {
	if len(prefixes) == 0 {
		return ""
	}
	b := make([]byte, 0, len(prefixes)*allowEntry)
	for _, p := range prefixes {
		a := p.Addr().As16()
		b = append(b, a[:]...)
		bits := byte(p.Bits())
		if p.Addr().Is4() {
			bits |= 128
		}
		b = append(b, bits)
	}
	return string(b)
}

// allowedFromEncoded is allowedFrom over encodeAllowList's form, without
// decoding into a slice.
func allowedFromEncoded(enc string, addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	a16 := addr.As16()
	hi, lo := binary.BigEndian.Uint64(a16[:8]), binary.BigEndian.Uint64(a16[8:])
	for i := 0; i+allowEntry <= len(enc); i += allowEntry {
		e := enc[i : i+allowEntry]
		is4, n := e[16]&128 != 0, int(e[16]&127)
		if is4 != addr.Is4() {
			continue
		}
		if is4 {
			n += 96 // compared as IPv4-mapped
		}
		phi, plo := beUint64(e[:8]), beUint64(e[8:16])
		if maskedEqual(hi, lo, phi, plo, n) {
			return true
		}
	}
	return false
}

func beUint64(s string) uint64 {
	_ = s[7]
	return uint64(s[7]) | uint64(s[6])<<8 | uint64(s[5])<<16 | uint64(s[4])<<24 |
		uint64(s[3])<<32 | uint64(s[2])<<40 | uint64(s[1])<<48 | uint64(s[0])<<56
}

// maskedEqual reports whether the 128-bit values (hi, lo) and (phi, plo)
// agree in their first n bits.
func maskedEqual(hi, lo, phi, plo uint64, n int) bool {
	switch {
	case n <= 0:
		return true
	case n <= 64:
		m := ^uint64(0) << (64 - n)
		return hi&m == phi&m
	case n >= 128:
		return hi == phi && lo == plo
	default:
		m := ^uint64(0) << (128 - n)
		return hi == phi && lo&m == plo&m
	}
}
