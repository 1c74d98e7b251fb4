// Package changefeed is the optional part of the Store contract for stores
// that several processes share (one database behind many replicas).
//
// A store that implements Feed lets every Manager over it hear of records
// that another process changed: a Manager subscribes in apitoken.New, and a
// token revoked on one replica leaves every replica's verification cache at
// once. pgstore implements it with PostgreSQL's LISTEN/NOTIFY. Stores used
// by one process (memstore, bolt) need not: their writes go through the one
// Manager, which keeps its own cache right.
package changefeed

// Feed is implemented by stores that several processes share.
//
// A feed that may have missed changes (its connection dropped) says so with
// Down. Until the matching Up the Manager empties its cache and keeps each
// record for at most apitoken.Options.FallbackCacheTTL; on Up it empties
// the cache again, since the gap may hide changes.
type Feed interface {
	// Subscribe calls fn for every change made through the store by any
	// process, and for every change of the feed's own state, until cancel
	// is called. If the feed is down when Subscribe is called it calls
	// fn(Change{Kind: Down}) before returning. fn must not block; calls
	// may come from any goroutine but never concurrently.
	Subscribe(fn func(Change)) (cancel func())
}

// Kind says what a Change is about.
type Kind uint8

// The kinds of change a Feed reports.
const (
	// Token: the token record with Change.Hash was updated or deleted.
	Token Kind = iota + 1
	// User: the user with Change.UserID was updated or deleted.
	User
	// Down: changes may be missed from now until Up.
	Down
	// Up: the feed is delivering changes again.
	Up
)

// Change is one notification from a Feed.
type Change struct {
	// Kind says which of the other fields is set.
	Kind Kind
	// Hash is the changed token's hash (apitoken.Hash), for Token.
	Hash [32]byte
	// UserID is the changed user's ID, for User.
	UserID string
}
