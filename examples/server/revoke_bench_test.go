package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
)

// BenchmarkRevokeBySecretTiming measures what a caller of DELETE
// /api/v1/api/key/{token} sees for a live, an already revoked and an
// unknown token, over the server's bbolt file: 500 calls of each per
// iteration, interleaved so that drift in the machine's speed falls on all
// three alike. It reports the three medians and the ratio of the largest
// to the smallest, which should stay near 1: revoke by possession must not
// tell whoever holds a string whether it was a live token.
//
//	go test -run '^$' -bench RevokeBySecretTiming -benchtime 1x ./examples/server
func BenchmarkRevokeBySecretTiming(b *testing.B) {
	const calls = 500
	dir := b.TempDir()
	c := config{dbPath: filepath.Join(dir, "apitoken.db"), keyPath: filepath.Join(dir, "apitoken.db.key"),
		adminName: "admin@example.com", adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10}
	ctx := context.Background()
	app, err := open(ctx, c, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app.routes())
	defer app.close()
	defer srv.Close()
	l, err := app.logins.Login(ctx, c.adminName, adminPassword, netip.Addr{})
	if err != nil {
		b.Fatal(err)
	}
	admin, err := app.m.Verify(ctx, l.Secret, "")
	if err != nil {
		b.Fatal(err)
	}
	issue := func() string {
		iss, err := app.m.Issue(ctx, admin, apitoken.IssueRequest{Description: "timing"})
		if err != nil {
			b.Fatal(err)
		}
		return iss.Secret
	}
	client := srv.Client()
	revoke := func(secret string) time.Duration {
		req, _ := http.NewRequest("DELETE", srv.URL+"/api/v1/api/key/"+secret, nil)
		start := time.Now()
		resp, err := client.Do(req)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatalf("DELETE answered %d", resp.StatusCode)
		}
		return d
	}
	var live, revoked, unknown []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		b.StopTimer()
		liveSecrets, revokedSecrets, unknownSecrets := make([]string, calls), make([]string, calls), make([]string, calls)
		for i := range calls {
			liveSecrets[i], revokedSecrets[i] = issue(), issue()
			if err := app.m.RevokeSecret(ctx, revokedSecrets[i]); err != nil {
				b.Fatal(err)
			}
			if unknownSecrets[i], err = (apitoken.Format{}).Generate(apitoken.KindAPI); err != nil {
				b.Fatal(err)
			}
		}
		revoke(unknownSecrets[0]) // warm the connection
		b.StartTimer()
		order := []int{0, 1, 2}
		for i := range calls {
			// Shuffle the order too, so that no case always follows the
			// same one (what a write leaves the disk doing falls on
			// whichever call comes next).
			rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			for _, j := range order {
				switch j {
				case 0:
					live = append(live, revoke(liveSecrets[i]))
				case 1:
					revoked = append(revoked, revoke(revokedSecrets[i]))
				case 2:
					unknown = append(unknown, revoke(unknownSecrets[i]))
				}
			}
		}
	}
	ms := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	l1, r1, u1 := ms(live), ms(revoked), ms(unknown)
	b.ReportMetric(l1, "live-median-ms")
	b.ReportMetric(r1, "revoked-median-ms")
	b.ReportMetric(u1, "unknown-median-ms")
	b.ReportMetric(max(l1, r1, u1)/min(l1, r1, u1), "max/min")
	b.ReportMetric(0, "ns/op")
}
