package apitoken

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// long reports whether the long test sizes are on, as storetest.Long does
// (this package's own tests cannot import storetest).
func long() bool { return os.Getenv("APITOKEN_LONG") == "1" && !testing.Short() }

func TestGeneratedTokensMatchPatternParseAndAreUnique(t *testing.T) {
	n := 1_000_000
	if !long() {
		n = 20_000
	}
	f := defaultFormat
	seen := make(map[string]struct{}, n)
	var counts [256]int
	var mismatches, parseFailures, duplicates int
	for i := range n {
		k := KindAPI
		if i%2 == 1 {
			k = KindSession
		}
		tok, err := f.generate(k, time.Now(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if Pattern.FindString(" "+tok+" ") != tok {
			mismatches++
		}
		if got, err := f.Parse(tok); err != nil || got != k {
			parseFailures++
		}
		if _, dup := seen[tok]; dup {
			duplicates++
		}
		seen[tok] = struct{}{}
		body := tok[len(f.prefix(k))+1+timeDigits : len(tok)-checksumLen]
		for j := 0; j < len(body); j++ {
			counts[body[j]]++
		}
	}
	if mismatches+parseFailures+duplicates != 0 {
		t.Fatalf("%d tokens: %d regexp mismatches, %d parse failures, %d duplicates", n, mismatches, parseFailures, duplicates)
	}
	// Chi-square goodness of fit of body characters against uniform base62.
	total := 0
	for _, c := range base62 {
		total += counts[c]
	}
	expected := float64(total) / 62
	chi2 := 0.0
	for _, c := range base62 {
		d := float64(counts[c]) - expected
		chi2 += d * d / expected
	}
	if crit := chiSquareCritical(61, 3.0902); chi2 > crit {
		t.Fatalf("chi-square %.1f over 61 df exceeds the p=0.001 critical value %.1f", chi2, crit)
	} else {
		t.Logf("%d tokens, %d body characters: chi-square %.1f (critical %.1f at p=0.001)", n, total, chi2, crit)
	}
}

// chiSquareCritical approximates the chi-square quantile for k degrees of
// freedom at standard normal quantile z (Wilson–Hilferty).
func chiSquareCritical(k, z float64) float64 {
	a := 2 / (9 * k)
	return k * math.Pow(1-a+z*math.Sqrt(a), 3)
}

func TestChiSquareDetectsModuloBias(t *testing.T) {
	// The same statistic must catch the classic b%62 bias, or the test
	// above proves nothing.
	var counts [62]int
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for _, b := range buf {
		counts[int(b)%62]++
	}
	expected := float64(len(buf)) / 62
	chi2 := 0.0
	for _, c := range counts {
		d := float64(c) - expected
		chi2 += d * d / expected
	}
	if chi2 <= chiSquareCritical(61, 3.0902) {
		t.Fatalf("modulo-biased sample passed the chi-square test (%.1f)", chi2)
	}
}

func TestParseRejects(t *testing.T) {
	f := defaultFormat
	good, _ := f.generate(KindAPI, time.Now(), rand.Reader)
	flipLast := []byte(good)
	flipLast[len(flipLast)-1] ^= 1
	flipBody := []byte(good)
	flipBody[10] = map[bool]byte{true: 'B', false: 'A'}[flipBody[10] == 'A']
	for _, tc := range []struct{ name, in string }{
		{"an empty string", ""},
		{"a prefix alone", "atk_"},
		{"an unknown prefix", "xyz" + good[3:]},
		{"an upper-case prefix", "ATK" + good[3:]},
		{"a missing separator", "atk" + good[4:]},
		{"a token one character short", good[:len(good)-1]},
		{"a token one character long", good + "a"},
		{"a wrong checksum", string(flipLast)},
		{"a changed body character", string(flipBody)},
		{"a hyphen in the body", good[:10] + "-" + good[11:]},
		{"a NUL in the body", good[:10] + "\x00" + good[11:]},
		{"a non-ASCII body", good[:10] + "é" + good[12:]},
		{"surrounding space", " " + good[:len(good)-1]},
		{"an input over the length bound", strings.Repeat("a", maxTokenLength+1)},
	} {
		t.Run(tc.name+" is malformed", func(t *testing.T) {
			if _, err := f.Parse(tc.in); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", tc.in, err)
			}
		})
	}
}

func TestParseOfHugeInputAllocatesNothing(t *testing.T) {
	f := defaultFormat
	huge := "atk_" + strings.Repeat("A", 1<<20)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.Parse(huge); !errors.Is(err, ErrMalformed) {
			t.Fatal("1 MiB input accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse of 1 MiB input made %v allocations", allocs)
	}
}

func TestChecksumCoversPrefixAndBody(t *testing.T) {
	f := defaultFormat
	tok, _ := f.generate(KindSession, time.Now(), rand.Reader)
	want := crc32.ChecksumIEEE([]byte(tok[:len(tok)-checksumLen]))
	var enc [checksumLen]byte
	putChecksum(enc[:], want)
	if string(enc[:]) != tok[len(tok)-checksumLen:] {
		t.Fatalf("checksum %q, want %q", tok[len(tok)-checksumLen:], enc)
	}
	// A session body under the API prefix fails: the prefix is covered.
	if _, err := f.Parse("atk" + tok[3:]); !errors.Is(err, ErrMalformed) {
		t.Fatal("prefix swap kept a valid checksum")
	}
}

func TestFormatOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    Format
		ok   bool
		body int
	}{
		{"the zero Format gives 43 body characters for 256 bits", Format{}, true, 43},
		{"128 bits give 22 body characters", Format{BodyBits: 128}, true, 22},
		{"512 bits give 86 body characters", Format{BodyBits: 512}, true, 86},
		{"127 bits are refused", Format{BodyBits: 127}, false, 0},
		{"513 bits are refused", Format{BodyBits: 513}, false, 0},
		{"equal prefixes are refused", Format{APIPrefix: "x", SessionPrefix: "x"}, false, 0},
		{"a prefix that extends the other with _ is refused", Format{APIPrefix: "ab", SessionPrefix: "ab_s"}, false, 0},
		{"an upper-case prefix is refused", Format{APIPrefix: "Tok"}, false, 0},
		{"a prefix ending in _ is refused", Format{APIPrefix: "tok_"}, false, 0},
		{"a 17-character prefix is refused", Format{APIPrefix: strings.Repeat("a", 17)}, false, 0},
		{"inner underscores are allowed", Format{APIPrefix: "my_app", SessionPrefix: "my_sess"}, true, 43},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.f.withDefaults()
			if tc.ok != (err == nil) {
				t.Fatalf("withDefaults error %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("error %v is not ErrInvalidArgument", err)
				}
				return
			}
			if f.bodyLen != tc.body {
				t.Fatalf("body length %d, want %d", f.bodyLen, tc.body)
			}
			re, err := tc.f.Pattern()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []Kind{KindAPI, KindSession} {
				tok, err := f.generate(k, time.Now(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := f.Parse(tok); err != nil || got != k {
					t.Fatalf("Parse(%q) = %v, %v", tok, got, err)
				}
				if !re.MatchString(tok) {
					t.Fatalf("%s does not match %s", tok, re)
				}
				if len(tok) > maxTokenLength {
					t.Fatalf("token length %d over maxTokenLength", len(tok))
				}
			}
		})
	}
}

func TestRandomBase62ReportsReaderFailure(t *testing.T) {
	_, err := defaultFormat.generate(KindAPI, time.Now(), bytes.NewReader(make([]byte, 10)))
	if err == nil {
		t.Fatal("short entropy source gave a token")
	}
}

func TestHasherMatchesCryptoHMACAndSHA256(t *testing.T) {
	for _, key := range [][]byte{[]byte("k"), bytes.Repeat([]byte("k"), 64), bytes.Repeat([]byte("long"), 40)} {
		h := newHasher(key)
		// Lengths around SHA-256's block and padding edges, and past the
		// buffer Sum copies through, once and several times over.
		msgs := []string{"", "atk_abc", strings.Repeat("x", maxTokenLength), strings.Repeat("y", maxTokenLength+5), strings.Repeat("z", 3*maxTokenLength+1)}
		for _, n := range []int{55, 56, 63, 64, 65, 119, 120, 128} {
			msgs = append(msgs, strings.Repeat("w", n))
		}
		for _, msg := range msgs {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(msg))
			got := h.Sum(msg)
			if !bytes.Equal(got[:], m.Sum(nil)) {
				t.Fatalf("key len %d, msg len %d: HMAC mismatch", len(key), len(msg))
			}
		}
	}
	plain := newHasher(nil)
	if plain.Keyed() {
		t.Fatal("nil key reported as keyed")
	}
	for _, msg := range []string{"atk_abc", strings.Repeat("y", maxTokenLength+5)} {
		if plain.Sum(msg) != Hash(sha256.Sum256([]byte(msg))) {
			t.Fatal("unkeyed hasher is not SHA-256")
		}
	}
	if newHasher([]byte("a")).Sum("t") == newHasher([]byte("b")).Sum("t") {
		t.Fatal("different keys gave the same hash")
	}
	keyed, tok := newHasher([]byte("k")), strings.Repeat("t", 2*maxTokenLength)
	if n := testing.AllocsPerRun(100, func() { keyed.Sum(tok); plain.Sum(tok) }); n != 0 {
		t.Fatalf("Sum allocates %v times", n)
	}
}

func TestHintShowsPrefixAndLastFour(t *testing.T) {
	if got := hint("atk_abcdefgh12345678"); got != "atk_...5678" {
		t.Fatalf("hint %q", got)
	}
}

func TestHasherSumDoesNotAllocate(t *testing.T) {
	h := newHasher([]byte("key"))
	tok, _ := defaultFormat.generate(KindAPI, time.Now(), rand.Reader)
	if a := testing.AllocsPerRun(100, func() { h.Sum(tok) }); a != 0 {
		t.Fatalf("Sum allocated %v times", a)
	}
}

// FuzzParse checks that Parse never panics, accepts only strings of the
// token alphabet within the length bound, and that whatever it accepts
// carries a valid checksum and matches Pattern.
func FuzzParse(f *testing.F) {
	good, _ := defaultFormat.generate(KindAPI, time.Now(), rand.Reader)
	sess, _ := defaultFormat.generate(KindSession, time.Now(), rand.Reader)
	for _, seed := range []string{
		good,                                // a valid API token
		sess,                                // a valid session token
		good[:len(good)-1] + "0",            // a checksum one digit off
		"atk_",                              // prefix only
		"",                                  // empty
		"atk_" + strings.Repeat("z", 57),    // right shape, wrong checksum
		"atk_" + strings.Repeat("\xff", 57), // bytes outside the alphabet
		withoutIssueTime(good),              // a token from before the issue time
		strings.Repeat("_", 60),             // separators only
		"ats_" + good[4:],                   // API body under the session prefix
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, issued, err := defaultFormat.parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if k != KindAPI && k != KindSession {
			t.Fatalf("accepted with kind %v", k)
		}
		if len(s) > maxTokenLength || !Pattern.MatchString(s) {
			t.Fatalf("accepted %q that Pattern does not match", s)
		}
		var enc [checksumLen]byte
		putChecksum(enc[:], crc32.ChecksumIEEE([]byte(s[:len(s)-checksumLen])))
		if string(enc[:]) != s[len(s)-checksumLen:] {
			t.Fatalf("accepted %q with a wrong checksum", s)
		}
		body := s[strings.IndexByte(s, '_')+1 : len(s)-checksumLen]
		switch {
		case len(body) == defaultFormat.bodyLen:
			if issued != noIssueTime {
				t.Fatalf("%q has no issue time but parsed one, %d", s, issued)
			}
		case issued < 0 || issued >= 1<<(8*issueTimeLen):
			t.Fatalf("%q: issue time %d outside [0, 2^48)", s, issued)
		default:
			var digits [timeDigits]byte
			putBase62(digits[:], uint64(issued))
			if string(digits[:]) != body[:timeDigits] {
				t.Fatalf("%q: issue time %d does not write back as %s", s, issued, body[:timeDigits])
			}
		}
	})
}

// withoutIssueTime returns tok as it would have been issued before tokens
// carried their issue time: the time digits dropped, the checksum redone.
func withoutIssueTime(tok string) string {
	i := strings.IndexByte(tok, '_') + 1
	b := []byte(tok[:i] + tok[i+timeDigits:])
	putChecksum(b[len(b)-checksumLen:], crc32.ChecksumIEEE(b[:len(b)-checksumLen]))
	return string(b)
}

func TestParseReadsTheIssueTime(t *testing.T) {
	f := defaultFormat
	at := time.Date(2026, 11, 22, 10, 30, 0, 123456789, time.UTC)
	tok, err := f.generate(KindAPI, at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old := withoutIssueTime(tok)
	for _, tc := range []struct {
		name   string
		token  string
		issued int64
	}{
		{"a token carries its issue time in milliseconds", tok, at.UnixMilli()},
		{"a token from before issue times has none", old, noIssueTime},
		{"a time before 1970 is written as 0", mustGenerate(t, f, time.Unix(-5, 0)), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, issued, err := f.parse(tc.token)
			if err != nil || k != KindAPI || issued != tc.issued {
				t.Fatalf("parse(%q) = %v, %d, %v; want API, %d", tc.token, k, issued, err, tc.issued)
			}
			if Pattern.FindString(" "+tc.token+" ") != tc.token {
				t.Fatalf("Pattern does not match %q", tc.token)
			}
		})
	}
	// The checksum covers the time digits.
	b := []byte(tok)
	b[4] = map[bool]byte{true: '1', false: '0'}[b[4] == '0']
	if _, err := f.Parse(string(b)); !errors.Is(err, ErrMalformed) {
		t.Fatal("a changed time digit kept a valid checksum")
	}
}

func mustGenerate(t *testing.T, f Format, at time.Time) string {
	t.Helper()
	tok, err := f.generate(KindAPI, at, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStoredHashesCarryTheIssueTime(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	m := &Manager{format: defaultFormat, ring: keyring{legacy: newHasher(key)}}
	at := time.UnixMilli(0x0123_4567_89ab)
	tok := mustGenerate(t, defaultFormat, at)
	sum, stored := m.ring.legacy.Sum(tok), m.HashOf(tok)
	if want := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab}; !bytes.Equal(stored[:issueTimeLen], want) {
		t.Fatalf("stored hash starts % x, want the issue time % x", stored[:issueTimeLen], want)
	}
	if !bytes.Equal(stored[issueTimeLen:], sum[issueTimeLen:]) {
		t.Fatal("the stored hash's remaining bytes are not the HMAC's")
	}
	later := m.HashOf(mustGenerate(t, defaultFormat, at.Add(time.Millisecond)))
	if bytes.Compare(later[:], stored[:]) <= 0 {
		t.Fatal("a token issued later does not sort after an earlier one by stored hash")
	}
	if old := withoutIssueTime(tok); m.HashOf(old) != m.ring.legacy.Sum(old) {
		t.Fatal("a token without an issue time is not stored under its plain HMAC")
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := defaultFormat.generate(KindAPI, time.Now(), rand.Reader); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	tok, _ := defaultFormat.generate(KindAPI, time.Now(), rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := defaultFormat.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashKeyed(b *testing.B) {
	h := newHasher([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := defaultFormat.generate(KindAPI, time.Now(), rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(tok)
	}
}
