package tokenpage_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/apitoken/apitoken/tokenpage"
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
				benchViews(b, st, n)
			})
		}
	}
}

func benchViews(b *testing.B, st apitoken.Store, n int) {
	c := storetest.NewCounting(st)
	m, err := apitoken.New(c, &apitoken.Options{HashKey: []byte("tokenpage test key, 32 bytes....")})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	admin, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Password: "admin password", Role: apitoken.Admin})
	if err != nil {
		b.Fatal(err)
	}
	dev, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "dev@example.com", Password: "dev password", Role: apitoken.Normal})
	if err != nil {
		b.Fatal(err)
	}
	// Records go in through the store's importer, in batches: issuing
	// 50,000 through the Manager would take minutes and pass the per-user
	// cap.
	imp := st.(apitoken.Importer)
	var batch []*apitoken.Token
	for i := range n {
		owner := []string{admin.ID, dev.ID, ""}[i%3]
		tk := storetest.Token(i+1, "acme", owner)
		tk.Version = 1
		batch = append(batch, tk)
		if len(batch) == 5000 || i == n-1 {
			if _, err := imp.ImportTokens(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	l, err := m.StartSession(ctx, admin.ID)
	if err != nil {
		b.Fatal(err)
	}
	h := tokenpage.New(m, nil)
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(&http.Cookie{Name: "apitoken_session", Value: l.Secret})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%s: status %d", path, rec.Code)
		}
		return rec
	}
	older := olderRE.FindStringSubmatch(get("/").Body.String())
	if older == nil {
		b.Fatal("the first page has no Older link")
	}
	for _, v := range []struct{ name, path string }{{"first", "/"}, {"older", html.UnescapeString(older[1])}} {
		b.Run("view="+v.name, func(b *testing.B) {
			var size, rows int
			listed, calls := c.Listed(), c.Reads()
			b.ReportAllocs()
			for b.Loop() {
				rec := get(v.path)
				size = rec.Body.Len()
				rows = len(rowRE.FindAllString(rec.Body.String(), -1))
			}
			b.ReportMetric(float64(c.Listed()-listed)/float64(b.N), "records/view")
			b.ReportMetric(float64(c.Reads()-calls)/float64(b.N), "store-reads/view")
			b.ReportMetric(float64(size), "html-bytes")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}
