package tokenpage

// Relative exposes the page's relative times to tests.
var Relative = relative

// ParseListState exposes the listing's query parser to the fuzz target,
// as the query string it keeps.
func ParseListState(q map[string][]string) string { return parseListState(q).Encode() }
