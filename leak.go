package apitoken

import (
	"context"
	"errors"
	"strings"

	"github.com/apitoken/apitoken/event"
)

// What an event.LeakReported keeps of where a leak was found.
const (
	maxLeakURL    = 2048
	maxLeakSource = 64
)

// ReportLeak revokes the token whose full secret was found in public, by
// possession as RevokeSecret does (behaviour rule 10, with the same store
// reads and writes), and emits one event.LeakReported. url and source say
// where it was found (for a secret scanner: a link to the file or commit,
// and "content", "commit", ...); the event keeps them bounded in length,
// as valid UTF-8, with anything shaped like a token redacted.
//
// It reports true if this call revoked a live token. Anything else (input
// that is not a token, an unknown token, one already revoked) is false
// with a nil error, and the event's Err says which: ErrMalformed,
// ErrUnknown or ErrRevoked. The event names the token's ID, account and
// user when this Manager issued it, and never the secret. Only a store
// failure is an error.
func (m *Manager) ReportLeak(ctx context.Context, secret, url, source string) (bool, error) {
	e := Event{Type: event.LeakReported, URL: m.scrub(url, maxLeakURL), Source: m.scrub(source, maxLeakSource)}
	if len(secret) > maxTokenLength {
		e.Err = ErrMalformed
		m.emit(e)
		return false, nil
	}
	t, wrote, err := m.revokeSecret(ctx, secret)
	if t != nil {
		e.TokenID, e.Account, e.UserID = t.ID, t.Account, t.UserID
	}
	switch {
	case errors.Is(err, ErrMalformed):
		e.Err, err = ErrMalformed, nil
	case err != nil:
		e.Err = err
	case wrote:
	case t != nil:
		e.Err = ErrRevoked
	default:
		e.Err = ErrUnknown
	}
	m.emit(e)
	return wrote && err == nil, err
}

// scrub bounds s to max bytes of valid UTF-8 and redacts anything shaped
// like a token of the Manager's Format.
func (m *Manager) scrub(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return m.format.redact(s, "[token]")
}
