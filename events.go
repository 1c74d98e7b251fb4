package apitoken

import (
	"context"
	"log/slog"
	"time"
)

// EventType names what happened. The zero value is unused.
type EventType uint8

// The event types. Package login reports its own through the same
// Options.OnEvent (login.EventLogin, EventLoginFailed, EventPasswordChanged,
// EventMFAActivated, EventMFARemoved, EventMFAFailed); their values are
// kept here, unexported, so that every type has one stable number and
// name.
const (
	EventCreated          EventType = iota + 1 // an API token was issued
	EventRevoked                               // a token was revoked (by ID or by possession)
	EventPromoted                              // a user token became an account token
	EventRotated                               // a token was rotated; TokenID is the new one, OldTokenID the old
	EventUpdated                               // description or default app state changed
	EventPrivilegeChanged                      // a token's privilege changed
	EventAppRecorded                           // an application name was recorded on a token
	EventAppAllowed                            // an application was set to allow
	EventAppDenied                             // an application was set to deny
	EventVerifyFailed                          // a verification failed; Err says why
	eventLogin                                 // package login's EventLogin
	eventLoginFailed                           // package login's EventLoginFailed
	EventLogout                                // a session ended by logout
	EventUnlocked                              // a session was unlocked with MFA
	EventUserChanged                           // a user was created, changed, disabled or deleted
	EventFlushFailed                           // writing last-used data failed; it will be retried
	EventChangeFeedDown                        // a shared store's change feed is down: the cache keeps records briefly
	EventChangeFeedUp                          // the change feed is back: the cache was emptied
	eventPasswordChanged                       // package login's EventPasswordChanged
	eventMFAActivated                          // package login's EventMFAActivated
	eventMFARemoved                            // package login's EventMFARemoved
	eventMFAFailed                             // package login's EventMFAFailed
	EventPurgeFailed                           // a background purge failed; it runs again at the next interval
	EventLeakReported                          // a secret scanner reported a token found in public; URL and Source say where, Err why it was not revoked
	EventExpiring                              // a live API token entered the expiry warning window (Options.ExpiryWarning); Expires says when it lapses. Reported once per token
)

var eventNames = [...]string{
	EventCreated: "token.created", EventRevoked: "token.revoked", EventPromoted: "token.promoted",
	EventRotated: "token.rotated", EventUpdated: "token.updated", EventPrivilegeChanged: "token.privilege_changed",
	EventAppRecorded: "app.recorded", EventAppAllowed: "app.allowed", EventAppDenied: "app.denied",
	EventVerifyFailed: "verify.failed", eventLogin: "session.login", eventLoginFailed: "session.login_failed",
	EventLogout: "session.logout", EventUnlocked: "session.unlocked", EventUserChanged: "user.changed",
	EventFlushFailed: "usage.flush_failed", EventChangeFeedDown: "cache.feed_down", EventChangeFeedUp: "cache.feed_up",
	eventPasswordChanged: "user.password_changed", eventMFAActivated: "mfa.activated", eventMFARemoved: "mfa.removed",
	eventMFAFailed: "mfa.failed", EventPurgeFailed: "history.purge_failed", EventLeakReported: "token.leak_reported",
	EventExpiring: "token.expiring",
}

// String returns a stable dotted name such as "token.revoked".
func (t EventType) String() string {
	if int(t) < len(eventNames) && eventNames[t] != "" {
		return eventNames[t]
	}
	return "unknown"
}

// Event reports something the Manager did or refused. It carries IDs and
// names, never a secret.
type Event struct {
	Type EventType
	Time time.Time
	// TokenID is the token concerned, when known.
	TokenID string
	// OldTokenID is the rotated-out token of EventRotated.
	OldTokenID string
	// Account and UserID say whose token it is, when known.
	Account string
	UserID  string
	// ActorID is the ID of the credential that made the change.
	ActorID string
	// App is the application name concerned.
	App string
	// State is the app state set or recorded.
	State AppState
	// Privilege is the new privilege of EventPrivilegeChanged.
	Privilege Privilege
	// Err is why a verification or login failed.
	Err error
	// URL and Source say where a secret scanner found the token of
	// EventLeakReported (for GitHub: a link to the file or commit, and
	// "content", "commit", ...), as reported, with anything token-shaped
	// redacted.
	URL    string
	Source string
	// Expires is when the token of EventExpiring lapses.
	Expires time.Time
}

func (m *Manager) emit(e Event) {
	if m.opts.OnEvent == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	m.opts.OnEvent(e)
}

// SlogEvents returns an Options.OnEvent function that logs each event to l:
// failures at Warn, the rest at Info, with only non-secret attributes.
func SlogEvents(l *slog.Logger) func(Event) {
	return func(e Event) {
		attrs := make([]slog.Attr, 0, 8)
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("token_id", e.TokenID)
		add("old_token_id", e.OldTokenID)
		add("account", e.Account)
		add("user_id", e.UserID)
		add("actor_id", e.ActorID)
		add("app", e.App)
		add("url", e.URL)
		add("source", e.Source)
		if e.State.Valid() {
			add("state", e.State.String())
		}
		if e.Privilege.Valid() {
			add("privilege", e.Privilege.String())
		}
		if !e.Expires.IsZero() {
			add("expires", e.Expires.UTC().Format(time.RFC3339))
		}
		level := slog.LevelInfo
		if e.Err != nil {
			level = slog.LevelWarn
			add("reason", e.Err.Error())
		}
		l.LogAttrs(context.Background(), level, e.Type.String(), attrs...)
	}
}
