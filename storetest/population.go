package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

// Population describes a store that Populate filled: the secrets of the
// tokens it issued through a Manager, which tests keep to verify the
// tokens after a migration or a backup.
type Population struct {
	// Secrets are the issued tokens' secrets.
	Secrets []string
	// Revoked holds the indexes in Secrets of the tokens it revoked.
	Revoked map[int]bool
	// Users and Tokens count the records stored (sessions included).
	Users, Tokens int
}

// Populate fills s, through m (a Manager over s), with users users, one
// session each, issued API tokens whose secrets it keeps (every tenth of
// them revoked), and generated API token records up to tokens records in
// all: some revoked, some expired, some used by applications. Generated
// records have random hashes, so no secret verifies them; they stand for
// the bulk of a large store. It uses s's migrate.Importer for them when s
// has one.
func Populate(tb testing.TB, m *apitoken.Manager, s apitoken.Store, users, issued, tokens int) Population {
	tb.Helper()
	ctx := context.Background()
	pop := Population{Revoked: map[int]bool{}, Secrets: make([]string, issued)}
	us := make([]*apitoken.User, users)
	sessions := make([]apitoken.Principal, users)
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	parallel := func(n int, fn func(i int) error) {
		var wg sync.WaitGroup
		const workers = 8
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += workers {
					if err := fn(i); err != nil {
						fail(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	parallel(users, func(i int) error {
		role := apitoken.Normal
		if i%10 == 0 {
			role = apitoken.Admin
		}
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: fmt.Sprintf("acct%d", i%20), Name: fmt.Sprintf("user%d@example.com", i), Role: role})
		if err != nil {
			return err
		}
		us[i] = u
		login, err := m.StartSession(ctx, u.ID)
		if err != nil {
			return err
		}
		sessions[i], err = m.Verify(ctx, login.Secret, "")
		return err
	})
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	parallel(issued, func(i int) error {
		p := sessions[i%users]
		is, err := m.Issue(ctx, p, apitoken.IssueRequest{Description: fmt.Sprintf("issued %d", i)})
		if err != nil {
			return err
		}
		pop.Secrets[i] = is.Secret
		if i%10 == 9 {
			if err := m.Revoke(ctx, p, is.Token.ID); err != nil {
				return err
			}
			mu.Lock()
			pop.Revoked[i] = true
			mu.Unlock()
		}
		return nil
	})
	if firstErr != nil {
		tb.Fatal(firstErr)
	}
	if err := m.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	pop.Users, pop.Tokens = users, users+issued
	im, _ := s.(migrate.Importer)
	now := time.Now().UTC()
	const batch = 5000
	for pop.Tokens < tokens {
		n := min(batch, tokens-pop.Tokens)
		ts := make([]*apitoken.Token, n)
		for i := range ts {
			ts[i] = generated(pop.Tokens+i, us[(pop.Tokens+i)%users], now)
		}
		if im != nil {
			if _, err := im.ImportTokens(ctx, ts); err != nil {
				tb.Fatal(err)
			}
		} else {
			for _, t := range ts {
				if err := s.CreateToken(ctx, t); err != nil {
					tb.Fatal(err)
				}
			}
		}
		pop.Tokens += n
	}
	return pop
}

// generated returns the n-th generated API token record of u.
func generated(n int, u *apitoken.User, now time.Time) *apitoken.Token {
	var r [40]byte
	rand.Read(r[:])
	// Issued over the last 83 days in record order, with IDs and hashes
	// that begin with the time, as real ones do.
	created := now.Add(-2000 * time.Hour).Add(time.Duration(n) * 7 * time.Second)
	id := fmt.Sprintf("g%08x", created.Unix())[:9] + hex.EncodeToString(r[:4])[:7]
	t := &apitoken.Token{
		ID: id, Hint: "atk_...gen0", Kind: apitoken.KindAPI, Owner: apitoken.OwnerUser,
		Account: u.Account, UserID: u.ID, CreatedBy: u.ID, Lineage: id,
		Description: fmt.Sprintf("generated %d", n), Type: "generic", Privilege: apitoken.ReadOnly,
		DefaultAppState: apitoken.Allow, Created: created, Expires: created.Add(365 * 24 * time.Hour),
		Version: uint64(1 + n%3),
	}
	copy(t.Hash[:], r[8:])
	// Stored hashes begin with the issue time in milliseconds, as
	// apitoken.Hash describes, so records are kept in issue order.
	ms := created.UnixMilli()
	for i := range 6 {
		t.Hash[i] = byte(ms >> (8 * (5 - i)))
	}
	switch n % 7 {
	case 0:
		t.Revoked = created.Add(time.Minute)
	case 1:
		t.Expires = created.Add(time.Minute)
	case 2:
		t.LastUsed = created.Add(time.Hour)
		t.Apps = []apitoken.App{{Name: "ci", State: apitoken.Allow, FirstSeen: created.Add(time.Hour), LastSeen: t.LastUsed}}
	}
	return t
}
