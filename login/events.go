package login

import "github.com/apitoken/apitoken"

// The events of password login and MFA. They reach the Manager's
// Options.OnEvent (through Manager.Emit) beside the Manager's own; their
// values and names (EventType.String) are stable.
const (
	EventLogin           apitoken.EventType = 11 // a password login succeeded: "session.login"
	EventLoginFailed     apitoken.EventType = 12 // a password login failed, Err says why: "session.login_failed"
	EventPasswordChanged apitoken.EventType = 19 // a password was changed or reset, the user's sessions ended: "user.password_changed"
	EventMFAActivated    apitoken.EventType = 20 // a new TOTP secret was confirmed, other sessions ended: "mfa.activated"
	EventMFARemoved      apitoken.EventType = 21 // a TOTP secret was removed, other sessions ended: "mfa.removed"
	EventMFAFailed       apitoken.EventType = 22 // a wrong MFA code was counted, Err says why: "mfa.failed"
)
