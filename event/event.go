// Package event names what a Manager (and the layers built on it, such as
// package login) reports through Options.OnEvent: apitoken.Event carries a
// Type from this package and the IDs concerned.
//
// Every type has a stable number and a stable dotted name (Type.String),
// so a host can store, filter and alert on them: "token.revoked",
// "verify.failed", "session.login", ... New types are only ever added at
// the end.
package event

// Type names what happened. The zero value is unused.
type Type uint8

// The event types. The comments say what each reports; apitoken.Event's
// fields say whose token it was and, for failures, why.
const (
	Created          Type = iota + 1 // an API token was issued
	Revoked                          // a token was revoked (by ID or by possession)
	Promoted                         // a user token became an account token
	Rotated                          // a token was rotated; TokenID is the new one, OldTokenID the old
	Updated                          // description or default app state changed
	PrivilegeChanged                 // a token's privilege changed
	AppRecorded                      // an application name was recorded on a token
	AppAllowed                       // an application was set to allow
	AppDenied                        // an application was set to deny
	VerifyFailed                     // a verification failed; Err says why
	Login                            // a session started (Manager.StartSession: a password login of package login, or the host's own sign-in)
	LoginFailed                      // a password login failed, Err says why (package login)
	Logout                           // a session ended by logout
	Unlocked                         // a session was unlocked with MFA
	UserChanged                      // a user was created, changed, disabled or deleted
	FlushFailed                      // writing last-used data failed; it will be retried
	ChangeFeedDown                   // a shared store's change feed is down: the cache keeps records briefly
	ChangeFeedUp                     // the change feed is back: the cache was emptied
	PasswordChanged                  // a password was changed or reset, the user's sessions ended (package login)
	MFAActivated                     // a new TOTP secret was confirmed, other sessions ended (package login)
	MFARemoved                       // a TOTP secret was removed, other sessions ended (package login)
	MFAFailed                        // a wrong MFA code was counted, Err says why (package login)
	PurgeFailed                      // a background purge failed; it runs again at the next interval
	LeakReported                     // a secret scanner reported a token found in public; URL and Source say where, Err why it was not revoked
	Expiring                         // a live API token entered the expiry warning window (Options.ExpiryWarning); Expires says when it lapses; reported once per token
)

var names = [...]string{
	Created: "token.created", Revoked: "token.revoked", Promoted: "token.promoted",
	Rotated: "token.rotated", Updated: "token.updated", PrivilegeChanged: "token.privilege_changed",
	AppRecorded: "app.recorded", AppAllowed: "app.allowed", AppDenied: "app.denied",
	VerifyFailed: "verify.failed", Login: "session.login", LoginFailed: "session.login_failed",
	Logout: "session.logout", Unlocked: "session.unlocked", UserChanged: "user.changed",
	FlushFailed: "usage.flush_failed", ChangeFeedDown: "cache.feed_down", ChangeFeedUp: "cache.feed_up",
	PasswordChanged: "user.password_changed", MFAActivated: "mfa.activated", MFARemoved: "mfa.removed",
	MFAFailed: "mfa.failed", PurgeFailed: "history.purge_failed", LeakReported: "token.leak_reported",
	Expiring: "token.expiring",
}

// String returns a stable dotted name such as "token.revoked", or
// "unknown" for a value that names no type.
func (t Type) String() string {
	if int(t) < len(names) && names[t] != "" {
		return names[t]
	}
	return "unknown"
}
