package apitoken

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/apitoken/apitoken/internal/tokenhash"
)

// Token strings look like <prefix>_<issued><body><checksum>:
//
//	atk_0T3mQ8aZ4qXbZ0c8mJ3...Tq0Yr2
//
// issued is the issue time in Unix milliseconds as 8 base62 digits, as at
// the start of a record ID; it is not secret (see Hash for why it is
// there). The body is BodyBits of crypto/rand entropy written in base62
// without bias; the checksum is the CRC32 (IEEE) of everything before it,
// written as 6 base62 characters. Only [A-Za-z0-9_] appear, so a token is
// safe in a URL query and selectable with a double-click, and secret
// scanners can find it with Pattern. The checksum lets Parse reject typos
// and random strings without a store lookup; it is not a security control.
//
// Tokens issued before the issue time was added have no issued digits.
// Parse still accepts them and they verify as before.
const (
	// defaultAPIPrefix prefixes API tokens when Format.APIPrefix is empty.
	defaultAPIPrefix = "atk"
	// defaultSessionPrefix prefixes session tokens when
	// Format.SessionPrefix is empty.
	defaultSessionPrefix = "ats"
	// defaultBodyBits is the entropy of a token body when Format.BodyBits
	// is zero.
	defaultBodyBits = 256
	// minBodyBits is the least entropy a Format accepts.
	minBodyBits = 128
	// maxBodyBits is the most entropy a Format accepts.
	maxBodyBits = 512
	// maxTokenLength bounds every token string. Longer input is refused
	// before any other work, so parsing time does not grow with input.
	maxTokenLength = maxPrefixLen + 1 + timeDigits + 86 + checksumLen

	maxPrefixLen = 16
	// timeDigits is how many base62 digits hold a time in Unix
	// milliseconds, in a token and at the start of a record ID: 62^8 ms
	// reaches the year 8888 and stays below 2^48 (see Hash).
	timeDigits  = 8
	checksumLen = 6
	base62      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Pattern matches the tokens of the default Format (both prefixes), for
// secret scanners and log scrubbers. Use Format.Pattern for a custom one.
var Pattern = regexp.MustCompile(defaultFormat.patternSource())

var defaultFormat = mustFormat(Format{})

// Redact returns s with every substring shaped like a token of the default
// Format replaced by "[token]", for log scrubbers. Unlike Pattern it needs
// no word boundary: a token glued to other letters, digits or underscores
// ("xatk_...", "atk_...x") is found too, and so is one whose checksum is
// wrong, since a mistyped token is still most of a secret. Pattern stays
// bounded by words so that secret scanners report whole tokens.
func Redact(s string) string { return defaultFormat.redact(s, "[token]") }

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,15}$`)

// Format describes the token strings a Manager issues and accepts. Its zero
// value is the default format: prefixes "atk" (API) and "ats" (session), 256
// bits of body.
type Format struct {
	// APIPrefix marks API tokens. Lower-case letters, digits and inner
	// underscores, starting with a letter, at most 16 characters.
	// Default "atk".
	APIPrefix string
	// SessionPrefix marks session tokens; it must differ from APIPrefix.
	// Default "ats".
	SessionPrefix string
	// BodyBits is the entropy of the random body, from 128 to 512.
	// Default 256.
	BodyBits int

	bodyLen int // derived: base62 characters of body
}

// withDefaults fills unset fields and checks the result.
func (f Format) withDefaults() (Format, error) {
	if f.APIPrefix == "" {
		f.APIPrefix = defaultAPIPrefix
	}
	if f.SessionPrefix == "" {
		f.SessionPrefix = defaultSessionPrefix
	}
	if f.BodyBits == 0 {
		f.BodyBits = defaultBodyBits
	}
	for _, p := range []string{f.APIPrefix, f.SessionPrefix} {
		if !prefixPattern.MatchString(p) || strings.HasSuffix(p, "_") {
			return f, fmt.Errorf("%w: token prefix %q must match %s and not end in _", ErrInvalidArgument, p, prefixPattern)
		}
	}
	if f.APIPrefix == f.SessionPrefix ||
		strings.HasPrefix(f.APIPrefix, f.SessionPrefix+"_") ||
		strings.HasPrefix(f.SessionPrefix, f.APIPrefix+"_") {
		return f, fmt.Errorf("%w: API and session prefixes must differ and neither may start with the other plus _", ErrInvalidArgument)
	}
	if f.BodyBits < minBodyBits || f.BodyBits > maxBodyBits {
		return f, fmt.Errorf("%w: BodyBits %d outside [%d, %d]", ErrInvalidArgument, f.BodyBits, minBodyBits, maxBodyBits)
	}
	f.bodyLen = int(math.Ceil(float64(f.BodyBits) / math.Log2(62)))
	return f, nil
}

func mustFormat(f Format) Format {
	f, err := f.withDefaults()
	if err != nil {
		panic(err)
	}
	return f
}

func (f Format) patternSource() string {
	return fmt.Sprintf(`\b(?:%s|%s)_[0-9A-Za-z]{%d}(?:[0-9A-Za-z]{%d})?\b`,
		regexp.QuoteMeta(f.APIPrefix), regexp.QuoteMeta(f.SessionPrefix), f.bodyLen+checksumLen, timeDigits)
}

// Pattern returns a regular expression that matches this format's tokens
// inside larger text. It returns an error if the format is invalid.
func (f Format) Pattern() (*regexp.Regexp, error) {
	f, err := f.withDefaults()
	if err != nil {
		return nil, err
	}
	return regexp.MustCompile(f.patternSource()), nil
}

// Generate returns a new random token string of kind k in this format,
// issued now, from crypto/rand. It creates no record: the string verifies
// nowhere. Use Manager.Issue for a usable token; Generate is for testing
// scanners and log scrubbers.
func (f Format) Generate(k Kind) (string, error) { return f.GenerateAt(k, time.Now()) }

// GenerateAt is Generate for a token issued at the given time, for tests
// and benchmark fixtures that build stores of tokens issued over time.
func (f Format) GenerateAt(k Kind, issued time.Time) (string, error) {
	f, err := f.withDefaults()
	if err != nil {
		return "", err
	}
	if k != KindAPI && k != KindSession {
		return "", fmt.Errorf("%w: kind %v", ErrInvalidArgument, k)
	}
	return f.generate(k, issued, rand.Reader)
}

// prefix returns the prefix for kind.
func (f *Format) prefix(k Kind) string {
	if k == KindSession {
		return f.SessionPrefix
	}
	return f.APIPrefix
}

// generate returns a new token string of kind k issued at the given time,
// reading entropy from r.
func (f *Format) generate(k Kind, issued time.Time, r io.Reader) (string, error) {
	p := f.prefix(k)
	n := len(p) + 1 + timeDigits + f.bodyLen + checksumLen
	b := make([]byte, n)
	copy(b, p)
	b[len(p)] = '_'
	body := b[len(p)+1 : n-checksumLen]
	putBase62(body[:timeDigits], unixMilli(issued))
	if err := randomBase62(r, body[timeDigits:]); err != nil {
		return "", err
	}
	putChecksum(b[n-checksumLen:], crc32.ChecksumIEEE(b[:n-checksumLen]))
	return string(b), nil
}

// randomBase62 fills dst with uniformly random base62 characters. Each
// random byte is masked to 6 bits and values 62 and 63 are rejected, so
// every character has probability exactly 1/62 (no modulo bias).
func randomBase62(r io.Reader, dst []byte) error {
	var buf [64]byte
	i := 0
	for i < len(dst) {
		need := len(dst) - i
		chunk := buf[:min(len(buf), need+need/8+2)]
		if _, err := io.ReadFull(r, chunk); err != nil {
			return fmt.Errorf("apitoken: reading randomness: %w", err)
		}
		for _, c := range chunk {
			v := c & 63
			if v >= 62 {
				continue
			}
			dst[i] = base62[v]
			i++
			if i == len(dst) {
				break
			}
		}
	}
	return nil
}

// unixMilli returns t in Unix milliseconds, 0 for times before 1970.
func unixMilli(t time.Time) uint64 { return uint64(max(t.UnixMilli(), 0)) }

// putChecksum writes c as checksumLen base62 digits, most significant
// first, zero-padded. 62^6 > 2^32, so every CRC32 fits.
func putChecksum(dst []byte, c uint32) { putBase62(dst[:checksumLen], uint64(c)) }

// putBase62 writes v as len(dst) base62 digits, most significant first,
// zero-padded; digits above len(dst) are dropped. The digits sort in ASCII
// as their values do, so equal-width numbers sort as strings.
func putBase62(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62[v%62]
		v /= 62
	}
}

// base62Value maps a byte to its base62 digit value, or 0xff.
var base62Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = byte(i)
	}
	return t
}()

// Parse checks that s is a well-formed token of this format with a valid
// checksum and returns its kind. Any failure is ErrMalformed. Input longer
// than maxTokenLength is refused before it is read, so the work done is
// bounded whatever the input. Parse never consults a store.
func (f *Format) Parse(s string) (Kind, error) {
	k, _, err := f.parse(s)
	return k, err
}

// noIssueTime is what parse returns as the issue time of a token from
// before tokens carried one.
const noIssueTime = -1

// parse is Parse, also returning the token's issue time in Unix
// milliseconds, or noIssueTime.
func (f *Format) parse(s string) (Kind, int64, error) {
	if len(s) > maxTokenLength {
		return 0, 0, ErrMalformed
	}
	var k Kind
	switch {
	case hasTokenPrefix(s, f.APIPrefix):
		k = KindAPI
	case hasTokenPrefix(s, f.SessionPrefix):
		k = KindSession
	default:
		return 0, 0, ErrMalformed
	}
	start := len(f.prefix(k)) + 1
	switch len(s) - start {
	case timeDigits + f.bodyLen + checksumLen, f.bodyLen + checksumLen:
	default:
		return 0, 0, ErrMalformed
	}
	var bad byte
	for i := start; i < len(s); i++ {
		bad |= base62Value[s[i]] >> 7
	}
	if bad != 0 {
		return 0, 0, ErrMalformed
	}
	if readBase62(s[len(s)-checksumLen:]) != uint64(crc32.ChecksumIEEE(tokenhash.Bytes(s[:len(s)-checksumLen]))) {
		return 0, 0, ErrMalformed
	}
	if len(s)-start == f.bodyLen+checksumLen {
		return k, noIssueTime, nil
	}
	return k, int64(readBase62(s[start : start+timeDigits])), nil
}

// readBase62 returns the value of the base62 digits s, most significant
// first. s must hold only base62 digits and at most 10 of them.
func readBase62(s string) uint64 {
	var v uint64
	for i := 0; i < len(s); i++ {
		v = v*62 + uint64(base62Value[s[i]])
	}
	return v
}

func hasTokenPrefix(s, p string) bool {
	return len(s) > len(p) && s[len(p)] == '_' && s[:len(p)] == p
}

// hint returns the non-secret hint shown in listings: prefix and the last
// four characters (which are checksum characters, so no entropy leaks).
func hint(token string) string {
	i := strings.LastIndexByte(token, '_')
	if i < 0 || len(token) < 4 {
		return ""
	}
	return token[:i+1] + "..." + token[len(token)-4:]
}

// findToken returns the first substring of s at or after from that is
// shaped like a token of f: a prefix, "_", and at least as many base62
// characters as the shortest token body (one issued before tokens carried
// their issue time) followed by its checksum. Whatever precedes or follows
// does not matter, and neither does the checksum. The span runs to the end
// of the base62 characters, less a prefix of f right before an "_" (the
// next of two tokens written back to back). It returns -1, -1 if there is
// none. f must be valid (withDefaults).
func (f *Format) findToken(s string, from int) (start, end int) {
	minBody := f.bodyLen + checksumLen
	start, end = -1, -1
	for _, p := range [...]string{f.APIPrefix, f.SessionPrefix} {
		for i := from; i+len(p)+1+minBody <= len(s); {
			j := strings.Index(s[i:], p)
			if j < 0 {
				break
			}
			j += i
			i = j + 1
			if start >= 0 && j >= start {
				break // no earlier than the one already found
			}
			b := j + len(p)
			if b >= len(s) || s[b] != '_' {
				continue
			}
			k := b + 1
			for k < len(s) && base62Value[s[k]] != 0xff {
				k++
			}
			if k < len(s) && s[k] == '_' {
				// The run may end in the next token's prefix
				// (tokens back to back): leave that prefix out.
				for _, q := range [...]string{f.APIPrefix, f.SessionPrefix} {
					if k-len(q)-(b+1) >= minBody && strings.HasSuffix(s[:k], q) {
						k -= len(q)
						break
					}
				}
			}
			if k-(b+1) >= minBody {
				start, end = j, k
				break
			}
		}
	}
	return start, end
}

// containsToken reports whether s holds a substring shaped like a token
// of f (see findToken).
func (f *Format) containsToken(s string) bool {
	i, _ := f.findToken(s, 0)
	return i >= 0
}

// redact returns s with every token-shaped substring (see findToken)
// replaced by with.
func (f *Format) redact(s, with string) string {
	i, j := f.findToken(s, 0)
	if i < 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for i >= 0 {
		b.WriteString(s[last:i])
		b.WriteString(with)
		last = j
		i, j = f.findToken(s, j)
	}
	b.WriteString(s[last:])
	return b.String()
}
