package login_test

import (
	"bytes"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
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
	u, p := signedInUser(t, m0, "mfa-rotation")
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

// Once every hash key is removed from the Manager's options, an MFA secret
// sealed under one is refused with an error naming that key (not taken for
// a secret stored as it is, whose codes would just never match): even the
// right code fails without counting against the user, the error holds no
// secret, and ResealMFA reports the secret as left under that key.
func TestASealIsRefusedByNameOnceEveryKeyIsRemoved(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    apitoken.Options
		keyID   uint32
		mention string
	}{
		{"sealed under HashKey", apitoken.Options{HashKey: []byte("login keyring test legacy key 32")}, 0, "hash key 0"},
		{"sealed under keyring key 7", apitoken.Options{HashKeys: map[uint32][]byte{7: bytes.Repeat([]byte{7}, 32)}, CurrentHashKey: 7}, 7, "hash key 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := memstore.New()
			clock := storetest.NewClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))
			open := func(o apitoken.Options) (*apitoken.Manager, *login.Service) {
				o.Now = clock.Now
				m, err := apitoken.New(s, &o)
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
			m0, l0 := open(c.opts)
			u, p := signedInUser(t, m0, "mfa-no-key")
			secret := storetest.EnableMFA(t, l0, p, clock.Now())
			stored, _ := s.UserByID(ctx, u.ID)

			m1, l1 := open(apitoken.Options{}) // no key at all
			again, err := m1.StartSession(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			locked, _ := m1.Verify(ctx, again.Secret, "")
			clock.Advance(time.Minute)
			err = l1.Unlock(ctx, locked, login.TOTPCode(secret, clock.Now()))
			if err == nil || errors.Is(err, login.ErrBadMFACode) || !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("Unlock with the right code = %v, want an error naming %s", err, c.mention)
			}
			for _, leak := range []string{string(secret), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret), string(stored.MFASecret), fmt.Sprintf("%x", stored.MFASecret)} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("the error %q holds the secret", err)
				}
			}
			if after, _ := s.UserByID(ctx, u.ID); after.MFAFailures != 0 || !bytes.Equal(after.MFASecret, stored.MFASecret) {
				t.Errorf("after the refusal: %d failures counted, secret changed: %v", after.MFAFailures, !bytes.Equal(after.MFASecret, stored.MFASecret))
			}
			if moved, remain, err := l1.ResealMFA(ctx); err != nil || moved != 0 || remain[c.keyID] != 1 || len(remain) != 1 {
				t.Errorf("ResealMFA = %d moved, %v left, %v; want the secret left under key %d", moved, remain, err, c.keyID)
			}
		})
	}
}

// signedInUser adds a normal user named name to account acme and returns
// them with the principal of a session started for them.
func signedInUser(t *testing.T, m *apitoken.Manager, name string) (*apitoken.User, apitoken.Principal) {
	t.Helper()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Verify(ctx, sess.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return u, p
}
