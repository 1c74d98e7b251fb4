package apitoken

import (
	"github.com/apitoken/apitoken/changefeed"
	"github.com/apitoken/apitoken/event"
)

// applyChange is the Manager's changefeed.Feed subscriber.
func (m *Manager) applyChange(c changefeed.Change) {
	switch c.Kind {
	case changefeed.Token:
		m.cache.invalidateToken(c.Hash)
	case changefeed.User:
		m.cache.invalidateUser(c.UserID)
	case changefeed.Down:
		m.cache.SetFallback(true)
		m.emit(Event{Type: event.ChangeFeedDown})
	case changefeed.Up:
		m.cache.SetFallback(false)
		m.emit(Event{Type: event.ChangeFeedUp})
	}
}
