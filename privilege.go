package apitoken

import "fmt"

// Privilege is what a credential may do: ReadOnly < Normal < Admin.
//
// The zero value means "unset". It is below every real privilege, is refused
// wherever a privilege is required, and never authorises anything.
type Privilege uint8

// The privileges, in increasing order.
const (
	// ReadOnly may read (list its own tokens, search) but not change
	// anything and not create tokens.
	ReadOnly Privilege = iota + 1
	// Normal may create and manage its own user tokens.
	Normal
	// Admin may see and manage every token of its account, create account
	// tokens, promote user tokens and manage users.
	Admin
)

var privilegeNames = [...]string{ReadOnly: "read-only", Normal: "normal", Admin: "admin"}

// Valid reports whether p is one of ReadOnly, Normal or Admin.
func (p Privilege) Valid() bool { return p >= ReadOnly && p <= Admin }

// String returns "read-only", "normal" or "admin", or "unset(N)" for any
// other value.
func (p Privilege) String() string {
	if !p.Valid() {
		return fmt.Sprintf("unset(%d)", uint8(p))
	}
	return privilegeNames[p]
}

// AtLeast reports whether p is valid and not below min. An unset p or an
// unset min is never satisfied: the check fails closed.
func (p Privilege) AtLeast(min Privilege) bool {
	return p.Valid() && min.Valid() && p >= min
}

// MarshalText returns the text form; an unset privilege is an error so that
// it never reaches storage or the wire as a real value.
func (p Privilege) MarshalText() ([]byte, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("%w: privilege %d is not set", ErrInvalidArgument, uint8(p))
	}
	return []byte(privilegeNames[p]), nil
}

// UnmarshalText accepts exactly "read-only", "normal" or "admin".
func (p *Privilege) UnmarshalText(text []byte) error {
	for v := ReadOnly; v <= Admin; v++ {
		if string(text) == privilegeNames[v] {
			*p = v
			return nil
		}
	}
	return fmt.Errorf("%w: unknown privilege %q (want read-only, normal or admin)", ErrInvalidArgument, truncateForError(text))
}

// minPrivilege returns the lower of a and b; an unset value wins, so the
// result fails closed.
func minPrivilege(a, b Privilege) Privilege {
	if !a.Valid() || !b.Valid() {
		return 0
	}
	if a < b {
		return a
	}
	return b
}

// truncateForError bounds user-supplied text quoted in error messages, with
// anything shaped like a token replaced first.
func truncateForError(b []byte) string {
	const max = 32
	t := Redact(string(b)) // a pasted token never reaches an error, not even its start
	if len(t) > max {
		return t[:max] + "..."
	}
	return t
}
