package pgstore

import "time"

// Test hooks, compiled only into this package's tests.

// HeartbeatsHeard returns how many of its own heartbeats s's listening
// connection has heard.
func HeartbeatsHeard(s *Store) uint64 { return s.heartbeatsHeard.Load() }

// ListeningSince returns when s's latest listening connection was
// established.
func ListeningSince(s *Store) time.Time { return time.Unix(0, s.listening.Load()) }

// ListTokensSQL is ListTokens' statement for q, for tests that EXPLAIN it.
var ListTokensSQL = listTokensSQL
