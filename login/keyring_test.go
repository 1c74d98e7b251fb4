package login_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// An MFA secret sealed under an older hash key moves to the current key
// when its code is next accepted, in the same write.
func TestAnAcceptedCodeMovesTheMFASecretToTheCurrentKey(t *testing.T) {
	s := memstore.New()
	clock := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
	legacy := []byte("login keyring test legacy key 32")
	open := func(keys map[uint32][]byte, current uint32) (*apitoken.Manager, *login.Service) {
		m, err := apitoken.New(s, &apitoken.Options{HashKey: legacy, HashKeys: keys, CurrentHashKey: current, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		l, err := login.New(m, s, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m, l
	}
	m0, l0 := open(nil, 0)
	u, err := m0.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "mfa-rotation", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := m0.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m0.Verify(ctx, sess.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	secret := storetest.EnableMFA(t, l0, p, clock.Now())
	before, _ := s.UserByID(ctx, u.ID)
	if before.MFASecret[0] != 1 {
		t.Fatalf("sealed under HashKey with version %d, want 1", before.MFASecret[0])
	}

	m1, l1 := open(map[uint32][]byte{7: bytes.Repeat([]byte{7}, 32)}, 7)
	again, err := m1.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	locked, _ := m1.Verify(ctx, again.Secret, "")
	clock.Advance(time.Minute)
	if err := l1.Unlock(ctx, locked, login.TOTPCode(secret, clock.Now())); err != nil {
		t.Fatal(err)
	}
	after, _ := s.UserByID(ctx, u.ID)
	if after.MFASecret[0] != 2 || !bytes.Equal(after.MFASecret[1:5], []byte{0, 0, 0, 7}) {
		t.Fatalf("after an accepted code the secret is sealed as % x..., want version 2 under key 7", after.MFASecret[:5])
	}
	moved, remain, err := l1.ResealMFA(ctx)
	if err != nil || moved != 0 || len(remain) != 0 {
		t.Fatalf("ResealMFA after the move: %d moved, %v left, %v", moved, remain, err)
	}
}
