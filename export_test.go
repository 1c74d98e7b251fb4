package apitoken

// Test hooks, compiled only into this package's tests.

// WithoutIssueTime returns tok as issued before tokens carried their issue
// time: the time digits dropped, the checksum redone.
func WithoutIssueTime(tok string) string { return withoutIssueTime(tok) }

// UsageLogWaiting reports whether a full usage log of m waits to be
// folded.
func UsageLogWaiting(m *Manager) bool { return m.usage.Waiting() }
