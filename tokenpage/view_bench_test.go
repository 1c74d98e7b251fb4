package tokenpage_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/memstore"
)

// BenchmarkPageView renders the table for an admin who sees every token
// of an account of 250 and of 50,000 API tokens, over bolt (ordered
// indexes) and memstore (a scan per listing call), in the handler (server
// time, no network): the first page and the next one through its "Older"
// link. It reports the records the store returned to listings per view
// (storetest.Counting), the store calls per view and the HTML's size.
func BenchmarkPageView(b *testing.B) {
	for _, n := range []int{250, 50_000} {
		for _, kind := range []string{"bolt", "memstore"} {
			b.Run(fmt.Sprintf("tokens=%d/store=%s", n, kind), func(b *testing.B) {
				var st apitoken.Store
				if kind == "bolt" {
					bs, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), &bolt.Options{NoSync: true})
					if err != nil {
						b.Fatal(err)
					}
					st = bs
				} else {
					st = memstore.New()
				}
				a := newBigAccount(b, st, n, nil)
				first, _ := a.get(b, "/")
				older := link(olderRE, first)
				if older == "" {
					b.Fatal("the first page has no Older link")
				}
				for _, v := range []struct{ name, path string }{{"first", "/"}, {"older", older}} {
					b.Run("view="+v.name, func(b *testing.B) {
						var size, rows int
						listed, calls := a.c.Listed(), a.c.Reads()
						b.ReportAllocs()
						for b.Loop() {
							body, _ := a.get(b, v.path)
							size, rows = len(body), len(rowRE.FindAllString(body, -1))
						}
						b.ReportMetric(float64(a.c.Listed()-listed)/float64(b.N), "records/view")
						b.ReportMetric(float64(a.c.Reads()-calls)/float64(b.N), "store-reads/view")
						b.ReportMetric(float64(size), "html-bytes")
						b.ReportMetric(float64(rows), "rows")
					})
				}
			})
		}
	}
}
