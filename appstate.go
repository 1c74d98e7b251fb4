package apitoken

import "fmt"

// AppState is the approval state of an application using a token: Allow,
// Pending or Deny. Each token has a default state, given to an application
// name the first time it uses the token, and a state per recorded name.
//
// The zero value means "unset" and is treated as Deny wherever a decision
// is made.
type AppState uint8

// The application states.
const (
	// Allow lets requests from the application through.
	Allow AppState = iota + 1
	// Pending refuses requests (HTTP 401, app_pending) until the owner or
	// an admin allows or denies the application.
	Pending
	// Deny refuses requests (HTTP 403, app_denied).
	Deny
)

var appStateNames = [...]string{Allow: "allow", Pending: "pending", Deny: "deny"}

// Valid reports whether s is one of Allow, Pending or Deny.
func (s AppState) Valid() bool { return s >= Allow && s <= Deny }

// String returns "allow", "pending" or "deny", or "unset(N)".
func (s AppState) String() string {
	if !s.Valid() {
		return fmt.Sprintf("unset(%d)", uint8(s))
	}
	return appStateNames[s]
}

// MarshalText returns the text form; an unset state is an error.
func (s AppState) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: app state %d is not set", ErrInvalidArgument, uint8(s))
	}
	return []byte(appStateNames[s]), nil
}

// UnmarshalText accepts exactly "allow", "pending" or "deny".
func (s *AppState) UnmarshalText(text []byte) error {
	for v := Allow; v <= Deny; v++ {
		if string(text) == appStateNames[v] {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("%w: unknown app state %q (want allow, pending or deny)", ErrInvalidArgument, truncateForError(text))
}

// looser reports whether s lets more applications through than from:
// Allow is looser than Pending, and Pending than Deny (an unset state
// counts as Deny). A pending application is refused too, but waits for
// approval rather than being turned away, so moving to Pending from Deny
// loosens as well.
func (s AppState) looser(from AppState) bool { return s.strictness() < from.strictness() }

// strictness orders states from Allow (0) to Deny (2), unset as Deny.
func (s AppState) strictness() int {
	if !s.Valid() {
		return int(Deny - Allow)
	}
	return int(s - Allow)
}

// decision returns the error a request from an application in state s
// gets: nil for Allow, ErrAppPending, or ErrAppDenied (also for unset).
func (s AppState) decision() error {
	switch s {
	case Allow:
		return nil
	case Pending:
		return ErrAppPending
	default:
		return ErrAppDenied
	}
}
