package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/bolt"
)

// The tail-latency benchmark's sizes, overridable for quick runs:
// APITOKEN_TAIL_TOKENS (default 1,000,000 tokens in the file),
// APITOKEN_TAIL_HOT (default 100,000 of them verified) and
// APITOKEN_TAIL_DURATION (default 10s). The write load is reported as
// issued/s and revoked/s: on a slow disk, flushes that rewrite most of
// the file keep the issuer below its 200 a second.
func tailSizes(b *testing.B) (tokens, hot int, d time.Duration) {
	tokens, hot, d = 1_000_000, 100_000, 10*time.Second
	if v := os.Getenv("APITOKEN_TAIL_TOKENS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("APITOKEN_TAIL_TOKENS=%q: want a positive count", v)
		}
		tokens = n
	}
	if v := os.Getenv("APITOKEN_TAIL_HOT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("APITOKEN_TAIL_HOT=%q: want a positive count", v)
		}
		hot = n
	}
	if v := os.Getenv("APITOKEN_TAIL_DURATION"); v != "" {
		x, err := time.ParseDuration(v)
		if err != nil || x <= 0 {
			b.Fatalf("APITOKEN_TAIL_DURATION=%q: want a duration such as 10s", v)
		}
		d = x
	}
	return tokens, min(hot, tokens), d
}

// boltFixture is a bolt file of n account tokens and their secrets, built
// once through the store's bulk import and kept in the user's cache
// directory (or APITOKEN_BENCH_CACHE) for later runs, since a million
// tokens take minutes to build. Each run works on a copy.
type boltFixture struct {
	path    string // the cached file; copy before writing
	secrets []byte // every secret, width bytes each
	width   int
}

func (f *boltFixture) secret(i int) string { return string(f.secrets[i*f.width : (i+1)*f.width]) }

// fixtureDir is where fixtures are cached between runs.
func fixtureDir(b *testing.B) string {
	dir := os.Getenv("APITOKEN_BENCH_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "apitoken-bench")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	return dir
}

// fixtureVersion names the fixture's layout; bump it when the records
// the fixture writes change, so stale cached files are not reused.
const fixtureVersion = 1

func loadBoltFixture(b *testing.B, n int) *boltFixture {
	b.Helper()
	dir := fixtureDir(b)
	name := fmt.Sprintf("tokens-v%d-%d", fixtureVersion, n)
	f := &boltFixture{path: filepath.Join(dir, name+".db")}
	secretsPath := filepath.Join(dir, name+".secrets")
	if s, err := os.ReadFile(secretsPath); err == nil && len(s)%n == 0 {
		if _, err := os.Stat(f.path); err == nil {
			f.secrets, f.width = s, len(s)/n
			return f
		}
	}
	start := time.Now()
	tmp := f.path + ".tmp"
	os.Remove(tmp)
	s, err := bolt.Open(tmp, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	secrets := make([]byte, 0, n*64)
	const batch = 10_000
	ts := make([]*apitoken.Token, 0, batch)
	for i := 0; i < n; {
		ts = ts[:0]
		for ; i < n && len(ts) < batch; i++ {
			created := now.Add(-time.Duration(n-i) * time.Millisecond)
			secret, err := apitoken.Format{}.GenerateAt(apitoken.KindAPI, created)
			if err != nil {
				b.Fatal(err)
			}
			id := fmt.Sprintf("%08x%08x", uint32(created.UnixMilli()), uint32(i))
			ts = append(ts, &apitoken.Token{
				ID: id, Hash: m.HashOf(secret), Hint: "atk_..." + secret[len(secret)-4:],
				Kind: apitoken.KindAPI, Owner: apitoken.OwnerAccount, Account: "acme", CreatedBy: "usr0000000000001",
				Parent: "ses0000000000001", Lineage: id, Description: "API token for server-to-server authentication",
				Type: "generic", Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow,
				Apps:    []apitoken.App{{Name: "default", State: apitoken.Allow, FirstSeen: now, LastSeen: now}},
				Created: created, Expires: now.Add(5 * 365 * 24 * time.Hour), Version: 1,
			})
			if f.width == 0 {
				f.width = len(secret)
			} else if len(secret) != f.width {
				b.Fatalf("secrets of different lengths: %d and %d", len(secret), f.width)
			}
			secrets = append(secrets, secret...)
		}
		if _, err := s.ImportTokens(ctx, ts); err != nil {
			b.Fatal(err)
		}
	}
	m.Close()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(secretsPath, secrets, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a fixture of %d tokens in %v: %s", n, time.Since(start).Round(time.Second), f.path)
	f.secrets = secrets
	return f
}

// copyFile copies src to a new file dst.
func copyFile(b *testing.B, dst, src string) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerifyTail is verification's latency under mixed load, on a
// bolt file of a million tokens (fsync on): two goroutines verify random
// tokens of a hot set of 100,000 while one issues and revokes about 200
// tokens a second, last-used data is flushed every 3 s (the default is
// 30 s; APITOKEN_TAIL_FLUSH) at the default Options.LastUsedResolution
// (APITOKEN_TAIL_RESOLUTION; negative writes every use on every flush), a
// purge with a one-second retention runs every 5 s (APITOKEN_TAIL_PURGE;
// a purge flushes first), and the collector runs as it comes. The hot
// set's first uses are written before the clock starts. Every
// verification's latency goes into a histogram; the metrics are its
// percentiles and maximum over the whole run, next to the floor's (see
// floor), which the same goroutines time after each verification. The
// verifiers run as fast as they can unless APITOKEN_TAIL_RATE paces them
// (tailRate). It runs for a fixed time whatever b.N is (run it with
// -benchtime 1x); see tailSizes for the sizes. The fixture is cached
// between runs (fixtureDir).
func BenchmarkVerifyTail(b *testing.B) {
	n, hot, d := tailSizes(b)
	f := loadBoltFixture(b, n)
	path := filepath.Join(b.TempDir(), "tail.db")
	copyFile(b, path, f.path)
	s, err := bolt.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey, MaxTokensPerUser: -1, Retention: time.Second,
		FlushInterval:      envDuration(b, "APITOKEN_TAIL_FLUSH", 3*time.Second),
		PurgeInterval:      envDuration(b, "APITOKEN_TAIL_PURGE", 5*time.Second),
		LastUsedResolution: tailResolution(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	admin := adminSession(b, m, "tail@example.com")
	// The hot set: hot tokens spread over the file, their secrets as
	// strings once, so verifying allocates nothing of the benchmark's.
	hotSet := make([]string, hot)
	for i := range hotSet {
		hotSet[i] = f.secret(int(uint64(i) * uint64(n) / uint64(hot)))
		if _, err := m.Verify(ctx, hotSet[i], ""); err != nil { // warm the cache
			b.Fatal(err)
		}
	}
	// The hot set's first uses are written before the clock starts, as a
	// server that has run a while has written them: what the run's
	// flushes write is then what a busy set costs from then on.
	if err := m.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()

	var (
		stop            atomic.Bool
		wg              sync.WaitGroup
		issued, revoked atomic.Int64
		writeErr        error
		hists           [2]*hdrhistogram.Histogram
		floors          [2]*hdrhistogram.Histogram
	)
	region := floorRegion()
	gc0 := gcCount()
	b.ResetTimer()
	start := time.Now()
	rate := tailRate(b) // verifications a second of each verifier; 0: as fast as it can
	for w := range hists {
		h := hdrhistogram.New(1, int64(10*time.Second), 3)
		hists[w] = h
		fh := hdrhistogram.New(1, int64(10*time.Second), 3)
		floors[w] = fh
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			done := 0
			var sink uint64
			defer func() { floorSink.Add(sink) }()
			for !stop.Load() {
				if rate > 0 { // keep to the schedule: sleep when ahead of it
					if due := int(time.Since(start).Seconds() * rate); done >= due {
						time.Sleep(200 * time.Microsecond)
						continue
					}
				}
				secret := hotSet[rng.IntN(len(hotSet))]
				t0 := time.Now()
				_, err := m.Verify(context.Background(), secret, "")
				el := time.Since(t0)
				if err != nil {
					b.Error(err)
					return
				}
				h.RecordValue(max(el.Nanoseconds(), 1))
				done++
				t0 = time.Now()
				sink += region.read(rng)
				fh.RecordValue(max(time.Since(t0).Nanoseconds(), 1))
			}
		}()
	}
	wg.Add(1)
	go func() { // about 200 tokens a second issued, and as many revoked
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var queue []string
		for !stop.Load() {
			<-tick.C
			iss, err := m.Issue(context.Background(), admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
			if err != nil {
				writeErr = err
				return
			}
			issued.Add(1)
			queue = append(queue, iss.Token.ID)
			if len(queue) > 1 { // revoke the one issued a tick ago
				if err := m.Revoke(context.Background(), admin, queue[0]); err != nil && !errors.Is(err, apitoken.ErrNotFound) {
					writeErr = err
					return
				}
				queue = queue[1:]
				revoked.Add(1)
			}
		}
	}()
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if writeErr != nil {
		b.Fatal(writeErr)
	}
	h := hists[0]
	h.Merge(hists[1])
	b.ReportMetric(float64(h.ValueAtQuantile(50)), "p50-ns")
	b.ReportMetric(float64(h.ValueAtQuantile(99)), "p99-ns")
	b.ReportMetric(float64(h.ValueAtQuantile(99.9)), "p999-ns")
	b.ReportMetric(float64(h.Max()), "max-ns")
	fh := floors[0]
	fh.Merge(floors[1])
	b.ReportMetric(float64(fh.ValueAtQuantile(99.9)), "floor-p999-ns")
	b.ReportMetric(float64(fh.Max()), "floor-max-ns")
	b.ReportMetric(float64(h.TotalCount())/elapsed.Seconds(), "verifies/s")
	b.ReportMetric(float64(issued.Load())/elapsed.Seconds(), "issued/s")
	b.ReportMetric(float64(revoked.Load())/elapsed.Seconds(), "revoked/s")
	b.ReportMetric(float64(gcCount()-gc0), "gcs")
	b.ReportMetric(0, "ns/op") // one fixed-time run: ns/op means nothing
}

// tailResolution is the Manager's Options.LastUsedResolution for the
// tail benchmark: APITOKEN_TAIL_RESOLUTION, a duration (negative: every
// use on every flush, as before the resolution existed), else the
// default.
func tailResolution(b *testing.B) time.Duration {
	v := os.Getenv("APITOKEN_TAIL_RESOLUTION")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d == 0 {
		b.Fatalf("APITOKEN_TAIL_RESOLUTION=%q: want a duration such as 1m, or -1s for every use", v)
	}
	return d
}

// floor is the tail benchmark's yardstick for the machine: a region of
// 64 MiB with no pointers, and read, which loads floorReads random words
// of it (on the machine of docs/performance.md, about as long as a
// cached verification at the median) and does nothing else (no lock, no allocation, no call into the library). Each
// verifier times a read after each verification, so the floor's
// percentiles show what the machine, the hypervisor and the Go runtime
// cost any code of that shape in the same run: what of verification's
// tail is not the library's.
type floor []uint64

const floorReads = 4

func floorRegion() floor {
	f := make(floor, 64<<20/8)
	for i := range f {
		f[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	return f
}

func (f floor) read(rng *rand.Rand) uint64 {
	var x uint64
	for range floorReads {
		x += f[(rng.Uint64()^x)%uint64(len(f))]
	}
	return x
}

// floorSink keeps floor reads from being optimised away.
var floorSink atomic.Uint64

// tailRate is each verifier's pace in the tail benchmark:
// APITOKEN_TAIL_RATE verifications a second for both together, or 0 (the
// default) for as fast as they can. Flat out on 2 cores the verifiers
// hold both, so the issuer waits for the scheduler to preempt one each
// time it wakes and falls short of its 200 a second; a pace leaves it a
// core.
func tailRate(b *testing.B) float64 {
	v := os.Getenv("APITOKEN_TAIL_RATE")
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("APITOKEN_TAIL_RATE=%q: want verifications a second, or 0 for as fast as possible", v)
	}
	return float64(n) / 2
}

func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}
