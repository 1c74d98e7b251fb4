package apitoken

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apitoken/apitoken/event"
)

// Expiry governance: the lifetime rules of new API tokens (Options.
// DefaultExpiry, MaxExpiry and ExpiryPolicy, decided in one place for
// Issue, IssueFor and Rotate) and the one-time warning ahead of expiry
// (Options.ExpiryWarning, event.Expiring).

// expiryWarnBatch bounds the tokens one pass of warnExpiring reports, so a
// pass costs one bounded store read and at most this many writes; the
// rest are reported by the next passes.
const expiryWarnBatch = 100

// expiryRule returns the longest lifetime a new API token of account may
// have, the lifetime it gets when the caller names no expiry, and whether
// the caller must name one: Options.MaxExpiry and DefaultExpiry, narrowed
// by Options.ExpiryPolicy.
func (m *Manager) expiryRule(account string) (longest, def time.Duration, required bool) {
	longest, def = m.opts.MaxExpiry, m.opts.DefaultExpiry
	if m.opts.ExpiryPolicy != nil {
		var most time.Duration
		most, required = m.opts.ExpiryPolicy(account)
		if most > 0 && most < longest {
			longest = most
		}
	}
	return longest, min(def, longest), required
}

// newExpiry returns the expiry a new API token of account gets when the
// caller asked for requested (zero: none), or ErrInvalidArgument naming
// the rule the request breaks.
func (m *Manager) newExpiry(account string, requested, now time.Time) (time.Time, error) {
	longest, def, required := m.expiryRule(account)
	if requested.IsZero() {
		if required {
			return time.Time{}, fmt.Errorf("%w: tokens of this account need an expiry, at most %s away", ErrInvalidArgument, humanDuration(longest))
		}
		requested = now.Add(def)
	}
	if !requested.After(now) || requested.After(now.Add(longest)) {
		return time.Time{}, fmt.Errorf("%w: expiry must be in the future and at most %s away", ErrInvalidArgument, humanDuration(longest))
	}
	return requested.UTC(), nil
}

// rotatedExpiry returns the expiry of the secret that replaces one
// expiring at old: the same, unless the account's rules now allow less.
func (m *Manager) rotatedExpiry(account string, old, now time.Time) time.Time {
	longest, _, _ := m.expiryRule(account)
	if limit := now.Add(longest); old.After(limit) {
		return limit.UTC()
	}
	return old
}

// ExpiryRule returns, for a new API token of account, the lifetime it
// gets without a chosen expiry, the longest one a caller may choose, and
// whether the caller must choose one (Options.DefaultExpiry, MaxExpiry and
// ExpiryPolicy together), for forms that offer choices. ExpiryLimits is
// the same without ExpiryPolicy.
func (m *Manager) ExpiryRule(account string) (def, longest time.Duration, required bool) {
	longest, def, required = m.expiryRule(account)
	return def, longest, required
}

// warnExpiring reports, with event.Expiring, up to expiryWarnBatch live API
// tokens of any account that expire within Options.ExpiryWarning and were
// not reported before, and marks each one reported (Token.ExpiryWarned)
// with a compare-and-update: of several processes sharing a store only
// the one whose write lands reports a token, and a restart reports none
// twice. It returns how many it reported.
func (m *Manager) warnExpiring(ctx context.Context, now time.Time) (int, error) {
	if m.opts.ExpiryWarning < 0 {
		return 0, nil
	}
	before := now.Add(m.opts.ExpiryWarning)
	ts, err := m.store.ListTokens(ctx, TokenQuery{Kind: KindAPI, ExpiresAfter: now, ExpiresBefore: before, Unwarned: true, Limit: expiryWarnBatch})
	if err != nil {
		return 0, storeErr(err)
	}
	n := 0
	for _, t := range ts {
		if t.Kind != KindAPI {
			continue
		}
		t, err := m.updateToken(ctx, t.ID, func(t *Token) error {
			if !t.ExpiryWarned.IsZero() || !active(t, now) || !t.Expires.Before(before) {
				return errUnchanged
			}
			t.ExpiryWarned = now
			return nil
		})
		if errors.Is(err, errUnchanged) || errors.Is(err, ErrNotFound) {
			continue // reported by another process, revoked or deleted meanwhile
		}
		if err != nil {
			return n, err
		}
		n++
		m.emit(Event{Type: event.Expiring, TokenID: t.ID, Account: t.Account, UserID: t.UserID, Expires: t.Expires})
	}
	return n, nil
}
