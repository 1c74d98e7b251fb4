package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// Checker is implemented by stores that can prove their indexes agree
// with their records (bolt and memstore do).
type Checker interface {
	Check(ctx context.Context) error
}

// Stress runs 64 goroutines of random issue, verify, revoke, promote,
// rotate, update, list, login and logout against one Manager over a store
// from newStore for d, then checks that only expected errors occurred,
// that the store's indexes agree with its records (if it is a Checker),
// and that no goroutine is left running once the Manager is closed. It
// reports operations per second.
func Stress(t *testing.T, newStore NewStoreFunc, d time.Duration) {
	before := runtime.NumGoroutine()
	store := newStore(t)
	m, err := apitoken.New(store, &apitoken.Options{HashKey: []byte("stress test key, 32 bytes long.."), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	l, err := login.New(m, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const password = "stress password"
	var users []*apitoken.User
	for i, role := range []apitoken.Privilege{apitoken.Admin, apitoken.Admin, apitoken.Normal, apitoken.Normal, apitoken.Normal, apitoken.ReadOnly} {
		u, err := l.AddUser(ctx, login.NewUser{Account: "acme", Name: fmt.Sprintf("stress%d@example.com", i), Password: password, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	var mu sync.Mutex
	var secrets []string // sessions and tokens, live or not
	var ids []string
	addSecret := func(s, id string) {
		mu.Lock()
		secrets, ids = append(secrets, s), append(ids, id)
		mu.Unlock()
	}
	pick := func(rng *rand.Rand) (string, string) {
		mu.Lock()
		defer mu.Unlock()
		i := rng.IntN(len(secrets))
		return secrets[i], ids[i]
	}
	for _, u := range users {
		l, err := m.StartSession(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		addSecret(l.Secret, l.Token.ID)
	}
	// Errors a random operation may legitimately meet.
	expected := []error{apitoken.ErrRevoked, apitoken.ErrExpired, apitoken.ErrUnknown, apitoken.ErrNotFound,
		apitoken.ErrInsufficientPrivilege, apitoken.ErrAlreadyAccountToken, apitoken.ErrConflict, apitoken.ErrInvalidArgument,
		apitoken.ErrUserDisabled, apitoken.ErrSessionLocked, login.ErrBadCredentials, login.ErrThrottled,
		login.ErrBusy} // many logins at once overflow the bounded hashing queue
	var ops, unexpected atomic.Int64
	var firstUnexpected atomic.Value
	note := func(err error) {
		ops.Add(1)
		if err == nil {
			return
		}
		for _, e := range expected {
			if errors.Is(err, e) {
				return
			}
		}
		if unexpected.Add(1) == 1 {
			firstUnexpected.Store(err.Error())
		}
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				secret, id := pick(rng)
				caller, verr := m.Verify(ctx, secret, "")
				switch n := rng.IntN(100); {
				case n < 50:
					note(verr)
				case n < 62:
					if verr == nil {
						iss, err := m.Issue(ctx, caller, apitoken.IssueRequest{Privilege: privs[rng.IntN(3)]})
						note(err)
						if err == nil {
							addSecret(iss.Secret, iss.Token.ID)
						}
					}
				case n < 70:
					_, target := pick(rng)
					if verr == nil {
						note(m.Revoke(ctx, caller, target))
					}
				case n < 75:
					_, target := pick(rng)
					if verr == nil {
						_, err := m.Promote(ctx, caller, target)
						note(err)
					}
				case n < 80:
					if verr == nil {
						iss, err := m.Rotate(ctx, caller, id, time.Duration(rng.IntN(2))*time.Second)
						note(err)
						if err == nil {
							addSecret(iss.Secret, iss.Token.ID)
						}
					}
				case n < 88:
					_, target := pick(rng)
					if verr == nil {
						p := privs[rng.IntN(3)]
						_, err := m.Update(ctx, caller, target, apitoken.TokenUpdate{Privilege: &p})
						note(err)
					}
				case n < 97:
					if verr == nil {
						_, err := m.List(ctx, caller, apitoken.ListOptions{})
						note(err)
					}
				case n < 99:
					if verr == nil && caller.Kind == apitoken.KindSession {
						note(m.Logout(ctx, caller))
					}
				default:
					lg, err := l.Login(ctx, users[rng.IntN(len(users))].Name, password, netip.Addr{})
					note(err)
					if err == nil {
						addSecret(lg.Secret, lg.Token.ID)
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := d.Seconds()
	if err := m.Close(); err != nil {
		t.Fatalf("closing the manager: %v", err)
	}
	if c, ok := store.(Checker); ok {
		if err := c.Check(ctx); err != nil {
			t.Fatalf("after the stress, indexes disagree with records: %v", err)
		}
	}
	store.Close()
	if n := unexpected.Load(); n != 0 {
		t.Fatalf("%d unexpected errors, the first: %v", n, firstUnexpected.Load())
	}
	for i := 0; runtime.NumGoroutine() > before && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
	mu.Lock()
	t.Logf("%d operations in %v by 64 goroutines: %.0f ops/s; %d credentials created", ops.Load(), d, float64(ops.Load())/elapsed, len(secrets))
	mu.Unlock()
}
