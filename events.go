package apitoken

import (
	"context"
	"log/slog"
	"time"

	"github.com/apitoken/apitoken/event"
)

// Event reports something the Manager did or refused. It carries IDs and
// names, never a secret.
type Event struct {
	// Type says what happened.
	Type event.Type
	Time time.Time
	// TokenID is the token concerned, when known.
	TokenID string
	// OldTokenID is the rotated-out token of event.Rotated.
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
	// Privilege is the new privilege of event.PrivilegeChanged.
	Privilege Privilege
	// Err is why a verification or login failed.
	Err error
	// URL and Source say where a secret scanner found the token of
	// event.LeakReported (for GitHub: a link to the file or commit, and
	// "content", "commit", ...), as reported, with anything token-shaped
	// redacted.
	URL    string
	Source string
	// Expires is when the token of event.Expiring lapses.
	Expires time.Time
}

func (m *Manager) emit(e Event) {
	if m.opts.OnEvent == nil && m.opts.Logger == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	if m.opts.Logger != nil {
		logEvent(m.opts.Logger, e)
	}
	if m.opts.OnEvent != nil {
		m.opts.OnEvent(e)
	}
}

// logEvent logs e to l: failures at Warn, the rest at Info, with only
// non-secret attributes.
func logEvent(l *slog.Logger, e Event) {
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
