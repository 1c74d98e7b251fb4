package tokenpage_test

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/tokenpage"
)

var netipZero netip.Addr

func memstoreNew() *memstore.Store { return memstore.New() }

// FuzzListState parses the table's query string (filter, search, page
// cursors) from any input: it never panics, and what it keeps parses
// back to itself.
func FuzzListState(f *testing.F) {
	f.Add("show=all&q=deploy&before=ntHV5LuL3Y4yVk4wVmNkSkp4aE1nOEZ6d054AQ")
	f.Add("show=mine&after=ntHV5LuL3Y4yVk4wVmNkSkp4aE1nOEZ6d054&before=x")
	f.Add("show=evil&before=x.&q=%00")
	f.Add("before=-1.\x7f&after=" + strings.Repeat("A", 129))
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		kept := tokenpage.ParseListState(q)
		again, err := url.ParseQuery(kept)
		if err != nil {
			t.Fatalf("kept %q does not parse: %v", kept, err)
		}
		if got := tokenpage.ParseListState(again); got != kept {
			t.Fatalf("%q kept as %q, then as %q", raw, kept, got)
		}
	})
}
