package otelapitoken_test

import (
	"slices"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/otelapitoken"
)

// hotManager returns a Manager over a memstore (with the adapter installed
// when met is not nil) and an API token whose verification is cached.
func hotManager(b testing.TB, met *otelapitoken.Metrics) (*apitoken.Manager, string) {
	opts := &apitoken.Options{HashKey: []byte("0123456789abcdef0123456789abcdef")}
	if met != nil {
		met.Install(opts)
	}
	m, err := apitoken.New(memstore.New(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	p, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		b.Fatal(err)
	}
	iss, err := m.Issue(ctx, p, apitoken.IssueRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for range 3 {
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			b.Fatal(err)
		}
	}
	return m, iss.Secret
}

// BenchmarkHotVerifyWithAdapter verifies a cached token on a Manager with
// the adapter installed (over the SDK, with a reader, so every
// verification is aggregated) and on one without, alternating a batch of
// each in every iteration. It reports both sides per verification (means)
// and the median of the iterations' ratios, with/without (the goal is at
// most 1.10).
func BenchmarkHotVerifyWithAdapter(b *testing.B) {
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	met, err := otelapitoken.New(&otelapitoken.Options{MeterProvider: provider})
	if err != nil {
		b.Fatal(err)
	}
	with, withSecret := hotManager(b, met)
	without, withoutSecret := hotManager(b, nil)
	const batch = 64
	run := func(m *apitoken.Manager, secret string) time.Duration {
		start := time.Now()
		for range batch {
			if _, err := m.Verify(ctx, secret, ""); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var tWith, tWithout time.Duration
	ratios := make([]float64, 0, 1<<18) // before the timer starts: no allocation is counted
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		var w, wo time.Duration
		if n%2 == 0 { // alternate which side goes first
			w = run(with, withSecret)
			wo = run(without, withoutSecret)
		} else {
			wo = run(without, withoutSecret)
			w = run(with, withSecret)
		}
		tWith, tWithout = tWith+w, tWithout+wo
		ratios = append(ratios, float64(w)/float64(wo))
		n++
	}
	verifications := float64(n * batch)
	b.ReportMetric(float64(tWith.Nanoseconds())/verifications, "ns/verify-with")
	b.ReportMetric(float64(tWithout.Nanoseconds())/verifications, "ns/verify-without")
	// The median of the iterations' ratios: a batch that another process
	// preempted skews one iteration, not the result.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(0, "ns/op")
}
