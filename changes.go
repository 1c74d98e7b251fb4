package apitoken

import "github.com/apitoken/apitoken/event"

// ChangeFeed is implemented by stores that several processes share (one
// database behind many replicas). A Manager over such a store subscribes in
// New, so that a record another process changes leaves this process's
// verification cache at once: a token revoked on one replica stops on all.
//
// A feed that may have missed changes (its connection dropped) says so with
// ChangeFeedDown. Until the matching ChangeFeedUp the Manager empties its
// cache and keeps each record for at most Options.FallbackCacheTTL; on
// ChangeFeedUp it empties the cache again, since the gap may hide changes.
type ChangeFeed interface {
	// Subscribe calls fn for every change made through the store by any
	// process, and for every change of the feed's own state, until cancel
	// is called. If the feed is down when Subscribe is called it calls
	// fn(Change{Kind: ChangeFeedDown}) before returning. fn must not
	// block; calls may come from any goroutine but never concurrently.
	Subscribe(fn func(Change)) (cancel func())
}

// ChangeKind says what a Change is about.
type ChangeKind uint8

// The kinds of change a ChangeFeed reports.
const (
	// ChangeToken: the token record with Change.Hash was updated or
	// deleted.
	ChangeToken ChangeKind = iota + 1
	// ChangeUser: the user with Change.UserID was updated or deleted.
	ChangeUser
	// ChangeFeedDown: changes may be missed from now until ChangeFeedUp.
	ChangeFeedDown
	// ChangeFeedUp: the feed is delivering changes again.
	ChangeFeedUp
)

// Change is one notification from a ChangeFeed.
type Change struct {
	// Kind says which of the other fields is set.
	Kind ChangeKind
	// Hash is the changed token's hash, for ChangeToken.
	Hash Hash
	// UserID is the changed user's ID, for ChangeUser.
	UserID string
}

// applyChange is the Manager's ChangeFeed subscriber.
func (m *Manager) applyChange(c Change) {
	switch c.Kind {
	case ChangeToken:
		m.cache.invalidateToken(c.Hash)
	case ChangeUser:
		m.cache.invalidateUser(c.UserID)
	case ChangeFeedDown:
		m.cache.SetFallback(true)
		m.emit(Event{Type: event.ChangeFeedDown})
	case ChangeFeedUp:
		m.cache.SetFallback(false)
		m.emit(Event{Type: event.ChangeFeedUp})
	}
}
