package login

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters. The zero value means OWASP's
// minimum recommendation: 19 MiB, 2 passes, 1 lane.
type Argon2Params struct {
	// MemoryKiB is the memory cost in KiB. Default 19456 (19 MiB); lower
	// values are refused.
	MemoryKiB uint32
	// Time is the number of passes. Default 2; lower values are refused.
	Time uint32
	// Threads is the parallelism. Default 1.
	Threads uint8
}

const (
	minArgonMemory = 19 * 1024
	minArgonTime   = 2
	argonKeyLen    = 32
	argonSaltLen   = 16
	// maxArgonMemory bounds the memory cost accepted from a stored hash,
	// so a corrupted record cannot make one login allocate gigabytes.
	maxArgonMemory = 1 << 21 // 2 GiB in KiB
	maxArgonTime   = 64
)

func (p *Argon2Params) setDefaults() error {
	setDefault(&p.MemoryKiB, minArgonMemory)
	setDefault(&p.Time, minArgonTime)
	setDefault(&p.Threads, 1)
	if p.MemoryKiB < minArgonMemory || p.Time < minArgonTime || p.MemoryKiB > maxArgonMemory || p.Time > maxArgonTime {
		return fmt.Errorf("%w: argon2id parameters below OWASP's minimum (m=19456, t=2) or absurdly high", apitoken.ErrInvalidArgument)
	}
	return nil
}

// hashPassword returns an argon2id hash in PHC string form:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, base64 without padding.
func hashPassword(p Argon2Params, password string, rand io.Reader) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return "", fmt.Errorf("apitoken: reading randomness: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// phcHash is a parsed argon2id PHC string.
type phcHash struct {
	params    Argon2Params
	salt, key []byte
}

// parsePHC parses a stored argon2id hash. Stored records are outside input
// too: every field is bounded and checked.
func parsePHC(s string) (phcHash, error) {
	bad := fmt.Errorf("%w: stored password hash is not a valid argon2id PHC string", apitoken.ErrInvalidArgument)
	if len(s) > 256 {
		return phcHash{}, bad
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, bad
	}
	var h phcHash
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return phcHash{}, bad
		}
		switch k {
		case "m":
			h.params.MemoryKiB = uint32(n)
		case "t":
			h.params.Time = uint32(n)
		case "p":
			if n > 255 {
				return phcHash{}, bad
			}
			h.params.Threads = uint8(n)
		default:
			return phcHash{}, bad
		}
	}
	if h.params.MemoryKiB == 0 || h.params.Time == 0 || h.params.Threads == 0 ||
		h.params.MemoryKiB > maxArgonMemory || h.params.Time > maxArgonTime {
		return phcHash{}, bad
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return phcHash{}, bad
	}
	if h.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(h.key) < 16 {
		return phcHash{}, bad
	}
	return h, nil
}

// checkPassword reports whether password matches the stored hash, in
// constant time over the derived keys.
func checkPassword(stored, password string) (bool, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), h.salt, h.params.Time, h.params.MemoryKiB, h.params.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// hashSlots bounds argon2id runs, so a login flood neither exhausts
// memory (each run allocates MemoryKiB) nor builds an unbounded queue.
// At most cap(run) hashes run at once. Logins (acquireLogin) also need an
// admission ticket: cap(admit) is the running plus the waiting, so at most
// cap(admit)-cap(run) logins wait, each for at most maxWait; the rest are
// refused at once with ErrBusy. Authenticated callers (setting a password)
// use acquire, which waits for a run slot bounded only by their context:
// a flood of unauthenticated logins cannot refuse them, and they are few.
type hashSlots struct {
	run     chan struct{}
	admit   chan struct{}
	maxWait time.Duration
}

func newHashSlots(running, queued int, maxWait time.Duration) *hashSlots {
	running = max(running, 1)
	return &hashSlots{run: make(chan struct{}, running), admit: make(chan struct{}, running+max(queued, 0)), maxWait: maxWait}
}

// acquire waits for a run slot until ctx ends. Release it with release.
func (s *hashSlots) acquire(ctx context.Context) error {
	select {
	case s.run <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *hashSlots) release() { <-s.run }

// acquireLogin takes an admission ticket and then a run slot, failing fast
// with ErrBusy when the queue is full or no slot frees within maxWait.
// Release it with releaseLogin.
func (s *hashSlots) acquireLogin(ctx context.Context) error {
	select {
	case s.admit <- struct{}{}:
	default:
		return ErrBusy
	}
	select {
	case s.run <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.maxWait)
	defer t.Stop()
	select {
	case s.run <- struct{}{}:
		return nil
	case <-t.C:
		<-s.admit
		return ErrBusy
	case <-ctx.Done():
		<-s.admit
		return ctx.Err()
	}
}

func (s *hashSlots) releaseLogin() {
	<-s.run
	<-s.admit
}
