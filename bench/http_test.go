package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
	"github.com/go-chi/jwtauth/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// httpSide is one server of the constant-rate comparison: the same
// handler behind one kind of authentication, and the request that
// passes it.
type httpSide struct {
	name   string
	srv    *httptest.Server
	target vegeta.Target
	client *http.Client
	hist   *hdrhistogram.Histogram
	errors int
}

// hello is the handler every side serves: a small JSON answer.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
})

// envDuration reads a duration from the environment, or def.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a duration such as 30s", name, v)
	}
	return d
}

// BenchmarkHTTPConstantRate serves one handler four ways on 127.0.0.1
// (no authentication; the Guard over a bolt-backed Manager with a hot API
// token; go-chi/jwtauth with an HS256 token; scs sessions on bbolt with a
// session cookie) and sends each the same constant request rate with
// vegeta: half the no-authentication server's measured maximum
// throughput (or APITOKEN_HTTP_RATE requests/s). The sides take turns in
// slices of APITOKEN_HTTP_SLICE (default 2s) until each has had
// APITOKEN_HTTP_DURATION (default 30s), so the machine's noise falls on
// all of them alike. Metrics per side: <side>-p50-ns, -p90-ns, -p99-ns,
// -max-ns; and guard-p99-overhead, the Guard's p99 over no
// authentication's, minus one (target at most 0.10). Run it with
// -benchtime 1x.
func BenchmarkHTTPConstantRate(b *testing.B) {
	total := envDuration(b, "APITOKEN_HTTP_DURATION", 30*time.Second)
	slice := envDuration(b, "APITOKEN_HTTP_SLICE", 2*time.Second)

	// The Guard on bolt.
	s, err := bolt.Open(filepath.Join(b.TempDir(), "http.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	secret := hotAccountToken(b, m, adminSession(b, m, "http@example.com"))
	guard := apitoken.NewGuard(m, nil).Handler(hello)

	// go-chi/jwtauth, HS256.
	ja := jwtauth.New("HS256", []byte("bench jwt key, 32 bytes long...!"), nil)
	_, jwtToken, err := ja.Encode(map[string]any{"sub": "usr0000000000001", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		b.Fatal(err)
	}
	jwtHandler := jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(hello))

	// scs on bbolt.
	sm, cookie := scsSetup(b)
	scsHandler := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sm.GetString(r.Context(), "user") == "" {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		hello(w, r)
	}))

	sides := []*httpSide{
		{name: "none", srv: httptest.NewServer(hello)},
		{name: "guard", srv: httptest.NewServer(guard), target: vegeta.Target{Header: http.Header{"Authorization": {"Bearer " + secret}}}},
		{name: "jwtauth", srv: httptest.NewServer(jwtHandler), target: vegeta.Target{Header: http.Header{"Authorization": {"Bearer " + jwtToken}}}},
		{name: "scs", srv: httptest.NewServer(scsHandler), target: vegeta.Target{Header: http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}}},
	}
	for _, sd := range sides {
		defer sd.srv.Close()
		if !strings.HasPrefix(sd.srv.URL, "http://127.0.0.1:") {
			b.Fatalf("server not on 127.0.0.1: %s", sd.srv.URL)
		}
		sd.target.Method, sd.target.URL = "GET", sd.srv.URL+"/"
		sd.hist = hdrhistogram.New(1, int64(30*time.Second), 3)
		resp, err := http.Get(sd.target.URL) // without a credential only none answers
		if err != nil || (resp.StatusCode == http.StatusOK) != (sd.name == "none") {
			b.Fatalf("%s: a request without a credential: %v %v", sd.name, err, resp)
		}
		resp.Body.Close()
		req, _ := http.NewRequest("GET", sd.target.URL, nil)
		req.Header = sd.target.Header
		resp, err = http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: a request with its credential: %v %v", sd.name, err, resp)
		}
		resp.Body.Close()
	}

	rate, measured := 0, 0
	if v := os.Getenv("APITOKEN_HTTP_RATE"); v != "" {
		if rate, err = strconv.Atoi(v); err != nil || rate < 1 {
			b.Fatalf("APITOKEN_HTTP_RATE=%q: want requests per second", v)
		}
	} else {
		measured = maxThroughput(b, sides[0].target, 3*time.Second)
		rate = max(measured/2, 1)
	}

	// An Attacker stops for good after one attack, so each slice has its
	// own; each side's client (and its kept-alive connections) lasts the
	// whole run.
	for _, sd := range sides {
		sd.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer sd.client.CloseIdleConnections()
	}
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	b.ResetTimer()
	for done := time.Duration(0); done < total; done += slice {
		d := min(slice, total-done)
		for _, sd := range sides {
			// Connections are bounded, so a side that falls behind queues
			// (and shows it in its latencies) rather than opening sockets
			// without end.
			attacker := vegeta.NewAttacker(vegeta.Client(sd.client), vegeta.MaxWorkers(512))
			for r := range attacker.Attack(vegeta.NewStaticTargeter(sd.target), pacer, d, sd.name) {
				if r.Code != http.StatusOK || r.Error != "" {
					sd.errors++
					continue
				}
				sd.hist.RecordValue(max(r.Latency.Nanoseconds(), 1))
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(rate), "req/s")
	if measured > 0 {
		b.ReportMetric(float64(measured), "none-max-req/s")
	}
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-8s %10s %10s %10s %10s %8s %8s\n", "side", "p50", "p90", "p99", "max", "count", "errors")
	for _, sd := range sides {
		h := sd.hist
		for _, q := range []struct {
			name string
			v    int64
		}{{"p50", h.ValueAtQuantile(50)}, {"p90", h.ValueAtQuantile(90)}, {"p99", h.ValueAtQuantile(99)}, {"max", h.Max()}} {
			b.ReportMetric(float64(q.v), sd.name+"-"+q.name+"-ns")
		}
		fmt.Fprintf(&table, "%-8s %10v %10v %10v %10v %8d %8d\n", sd.name, time.Duration(h.ValueAtQuantile(50)),
			time.Duration(h.ValueAtQuantile(90)), time.Duration(h.ValueAtQuantile(99)), time.Duration(h.Max()), h.TotalCount(), sd.errors)
		if sd.errors > 0 {
			b.Errorf("%s: %d failed requests", sd.name, sd.errors)
		}
	}
	over := float64(sides[1].hist.ValueAtQuantile(99))/float64(sides[0].hist.ValueAtQuantile(99)) - 1
	b.ReportMetric(over, "guard-p99-overhead")
	fmt.Fprintf(&table, "rate %d req/s per side, %v per side in slices of %v; Guard p99 over none: %+.1f%%", rate, total, slice, 100*over)
	b.Log(table.String())
	b.ReportMetric(0, "ns/op") // one fixed-time run: ns/op means nothing
}

// maxThroughput is the requests per second the load generator itself
// (vegeta, as the measured runs use it) gets from target over d with no
// pacing: 8 workers as fast as answers come. Measuring with the same
// generator matters on a small machine, where the generator's own cost
// per request is a large share of the CPU the server shares with it.
func maxThroughput(b *testing.B, target vegeta.Target, d time.Duration) int {
	attacker := vegeta.NewAttacker(vegeta.Workers(8), vegeta.MaxWorkers(8), vegeta.Connections(8))
	n := 0
	for r := range attacker.Attack(vegeta.NewStaticTargeter(target), vegeta.Rate{Freq: 0}, d, "max") {
		if r.Code != http.StatusOK || r.Error != "" {
			b.Fatalf("measuring the maximum: %d %s", r.Code, r.Error)
		}
		n++
	}
	return int(float64(n) / d.Seconds())
}
