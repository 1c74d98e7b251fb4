package bolt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
)

// A backup taken while two goroutines issue and revoke opens, passes
// Check, and holds every operation acknowledged before it began.
func TestBackupOfALiveStoreHoldsEveryAcknowledgedWrite(t *testing.T) {
	dir := t.TempDir()
	s := openAt(t, filepath.Join(dir, "live.db"), nil)
	key := bytes.Repeat([]byte{7}, 32)
	m, err := apitoken.New(s, &apitoken.Options{HashKey: key, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "ops@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	login, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Verify(ctx, login.Secret, "")
	if err != nil {
		t.Fatal(err)
	}

	type op struct {
		secret, id string
		revoked    bool
	}
	var mu sync.Mutex
	var acked []op // operations acknowledged so far, in order
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				is, err := m.Issue(ctx, p, apitoken.IssueRequest{Description: fmt.Sprintf("w%d-%d", w, i)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				acked = append(acked, op{secret: is.Secret, id: is.Token.ID})
				mu.Unlock()
				if i%2 == 1 {
					if err := m.Revoke(ctx, p, is.Token.ID); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					acked = append(acked, op{id: is.Token.ID, revoked: true})
					mu.Unlock()
				}
			}
		}()
	}
	waitFor := func(n int) {
		for {
			mu.Lock()
			l := len(acked)
			mu.Unlock()
			if l >= n {
				return
			}
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
		}
	}
	waitFor(30)
	mu.Lock()
	before := append([]op(nil), acked...) // acknowledged before the backup began
	mu.Unlock()
	path := filepath.Join(dir, "copy.db")
	n, err := s.BackupFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(len(before) + 30) // the writers went on during and after it
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	cp, err := tokenbolt.Open(path, &tokenbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("opening the %d-byte backup: %v", n, err)
	}
	if err := cp.Check(ctx); err != nil {
		t.Fatalf("the backup fails its check: %v", err)
	}
	cp.Close()
	// Verification records a token's first application, so the copy is
	// opened for writing to verify on it.
	cp = openAt(t, path, &tokenbolt.Options{NoSync: true})
	cm, err := apitoken.New(cp, &apitoken.Options{HashKey: key, PurgeInterval: -1, FlushInterval: 1 << 62})
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close()
	revoked := map[string]bool{}
	for _, o := range before {
		if o.revoked {
			revoked[o.id] = true
		}
	}
	for _, o := range before {
		if o.revoked {
			continue
		}
		tk, err := cp.TokenByID(ctx, o.id)
		if err != nil {
			t.Fatalf("token %s acknowledged before the backup is missing: %v", o.id, err)
		}
		_, err = cm.Verify(ctx, o.secret, "")
		switch {
		case revoked[o.id] && (!errors.Is(err, apitoken.ErrRevoked) || tk.Revoked.IsZero()):
			t.Fatalf("token %s revoked before the backup: %v", o.id, err)
		// A revoke acknowledged after the list was taken may have been
		// committed before the backup began.
		case !revoked[o.id] && err != nil && !errors.Is(err, apitoken.ErrRevoked):
			t.Fatalf("token %s issued before the backup does not verify on it: %v", o.id, err)
		}
	}
	t.Logf("backup of %d bytes holds all %d operations acknowledged before it", n, len(before))
}

// Backup stops when its context ends.
func TestBackupStopsWithItsContext(t *testing.T) {
	s := newStore(t).(*tokenbolt.Store)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Backup(cctx, &bytes.Buffer{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
