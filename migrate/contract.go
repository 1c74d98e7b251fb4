package migrate

import (
	"context"

	"github.com/apitoken/apitoken"
)

// Walker is an optional interface of an apitoken.Store that reads every record it
// holds, of every account and kind, a bounded page at a time: for
// migrations between stores, statistics and integrity checks. memstore,
// bolt and pgstore implement it; storetest.Run checks it on any store that
// does.
//
// A walk goes in the store's own order of IDs (byte order in memstore and
// bolt, the ID column's collation in pgstore). The order is stable, so a
// walk resumes from the last ID it returned, even in another process: a
// record present for the whole walk is returned exactly once, and one
// created or deleted during it may or may not be.
type Walker interface {
	// WalkTokens returns up to limit (at least 1) token records whose IDs
	// come after after in the walk order; "" starts at the first. Fewer
	// than limit means the walk is done.
	WalkTokens(ctx context.Context, after string, limit int) ([]*apitoken.Token, error)
	// WalkUsers is WalkTokens for users.
	WalkUsers(ctx context.Context, after string, limit int) ([]*apitoken.User, error)
}

// Importer is an optional interface of an apitoken.Store that takes records exactly
// as another store holds them, Version included, for migrations between
// stores. memstore, bolt and pgstore implement it. A store without it is
// filled through its CreateToken and CreateUser, which start every Version
// again at 1: verification does not read versions, so tokens verify all
// the same.
type Importer interface {
	// ImportTokens stores every record of ts as it is, Version (at least
	// 1) included, in one atomic batch, and returns how many it added. A
	// record already stored with the same ID and equal in every field
	// (apitoken.Token.Equal) is skipped, so importing twice changes nothing. If an
	// ID or a hash is stored with any difference the whole batch fails
	// with apitoken.ErrDuplicate (naming the ID) and stores nothing.
	ImportTokens(ctx context.Context, ts []*apitoken.Token) (added int, err error)
	// ImportUsers is ImportTokens for users (apitoken.User.Equal); a name taken
	// by another ID is ErrDuplicate too.
	ImportUsers(ctx context.Context, us []*apitoken.User) (added int, err error)
}
