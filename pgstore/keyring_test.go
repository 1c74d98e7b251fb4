package pgstore_test

import (
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

var (
	ringKey1 = []byte("pgstore keyring key one, 32 b...")
	ringKey2 = []byte("pgstore keyring key two, 32 b...")
)

// A record another instance moves to a new key leaves this instance's
// cache (the move announces the old hash), so a revocation announced under
// the new hash stops the token here too.
func TestARecordMovedOnOneInstanceThenRevokedStopsOnTheOther(t *testing.T) {
	url := schemaURL(t)
	open := func(current uint32) replica {
		s, err := pgstore.Open(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := apitoken.New(s, &apitoken.Options{HashKeys: map[uint32][]byte{1: ringKey1, 2: ringKey2}, CurrentHashKey: current})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); s.Close() })
		return replica{store: s, m: m}
	}
	a, b := open(2), open(1) // b has not been told of key 2 yet
	signInEverywhere(t, &b, &a)
	iss, err := b.m.Issue(ctx, b.admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// Record the application first, and let the announcement of that write
	// reach B before B caches the record: B's entry must then be dropped by
	// the move's announcement and nothing else. (A verification on A would
	// move the record to key 2 at once.)
	if _, err := b.m.Verify(ctx, iss.Secret, ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cachedOn(t, b.m, iss.Secret)
	remain, err := a.m.RekeyHashes(ctx)
	if err != nil || len(remain) != 0 {
		t.Fatalf("the pass left %v: %v", remain, err)
	}
	rec, err := a.store.TokenByID(ctx, iss.Token.ID)
	if err != nil || rec.HashKeyID != 2 {
		t.Fatalf("after the pass the token is under key %d (%v), want 2", rec.HashKeyID, err)
	}
	if err := a.m.Revoke(ctx, a.admin, iss.Token.ID); err != nil {
		t.Fatal(err)
	}
	untilRefused(t, b.m, iss.Secret, 5*time.Second, 0)
}

// A row written before migration 7 (no hash_key column given) reads as key
// 0 and verifies as before.
func TestRowsWrittenBeforeHashKeysReadAsKeyZero(t *testing.T) {
	url := schemaURL(t)
	s := open(t, url)
	tk := storetest.Token(1, "acme", "u1")
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// The INSERT of the code before hash keys: every column but hash_key.
	if _, err := c.Exec(ctx, `INSERT INTO apitoken_tokens (id, hash, hint, kind, owner, account, user_id, created_by, parent, lineage,
		description, type, privilege, default_app_state, apps, created, expires, unlocked, version, origin)
		VALUES ($1, $2, '', $3, $4, 'acme', 'u1', '', '', $1, '', 'generic', $5, $6, '[]', $7, $8, false, 1, '')`,
		tk.ID, tk.Hash[:], int16(tk.Kind), int16(tk.Owner), int16(tk.Privilege), int16(tk.DefaultAppState),
		tk.Created.UnixNano(), tk.Expires.UnixNano()); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, tk.Hash)
	if err != nil || got.HashKeyID != 0 {
		t.Fatalf("read %v, HashKeyID %d; want key 0", err, got.HashKeyID)
	}
	got.Description = "updated as before"
	if err := s.UpdateToken(ctx, got); err != nil {
		t.Fatal(err)
	}
}
