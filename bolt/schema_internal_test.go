package bolt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func schemaOf(t *testing.T, s *Store) uint64 {
	var v uint64
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		v, _ = binary.Uvarint(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	}))
	return v
}

// TestASchemaOneFileIsReadAndMarkedTwo: a file whose ID index holds whole
// hashes (schema 1) is read as it is, read-only or not; opened for writing
// it is marked schema 2, new tokens get short entries, and both kinds are
// found by ID, listed, revoked and pass Check.
func TestASchemaOneFileIsReadAndMarkedTwo(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	m, err := apitoken.New(s, &apitoken.Options{CacheSize: -1})
	require.NoError(t, err)
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	require.NoError(t, err)
	l, err := m.StartSession(ctx, u.ID)
	require.NoError(t, err)
	admin, err := m.Verify(ctx, l.Secret, "")
	require.NoError(t, err)
	var old []apitoken.Issued
	for range 20 {
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{})
		require.NoError(t, err)
		old = append(old, iss)
	}
	m.Close()
	// Rewrite the file as schema-1 code left it.
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		ids := tx.Bucket(bucketTokenIDs)
		err := tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			tk, err := decodeToken(apitoken.Hash(k), v)
			if err != nil {
				return err
			}
			return ids.Put([]byte(tk.ID), k)
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.AppendUvarint(nil, 1))
	}))
	require.NoError(t, s.Close())

	ro, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), schemaOf(t, ro), "a read-only open changes nothing")
	got, err := ro.TokenByID(ctx, old[0].Token.ID)
	require.NoError(t, err)
	assert.Equal(t, old[0].Token.Hash, got.Hash)
	require.NoError(t, ro.Close())

	s, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, uint64(SchemaVersion), schemaOf(t, s))
	m, err = apitoken.New(s, &apitoken.Options{CacheSize: -1})
	require.NoError(t, err)
	defer m.Close()
	admin, err = m.Verify(ctx, l.Secret, "")
	require.NoError(t, err)
	fresh, err := m.Issue(ctx, admin, apitoken.IssueRequest{})
	require.NoError(t, err)
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		assert.Len(t, tx.Bucket(bucketTokenIDs).Get([]byte(fresh.Token.ID)), idRefLen, "a new entry is short")
		assert.Len(t, tx.Bucket(bucketTokenIDs).Get([]byte(old[1].Token.ID)), len(apitoken.Hash{}), "an old one is kept")
		return nil
	}))
	for _, iss := range append(old, fresh) {
		got, err := s.TokenByID(ctx, iss.Token.ID)
		require.NoError(t, err)
		assert.Equal(t, iss.Token.Hash, got.Hash)
	}
	list, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: u.ID})
	require.NoError(t, err)
	assert.Len(t, list, len(old)+2, "20 old, the new one and the session")
	require.NoError(t, m.Revoke(ctx, admin, old[2].Token.ID))
	_, err = m.Verify(ctx, old[2].Secret, "")
	assert.ErrorIs(t, err, apitoken.ErrRevoked)
	require.NoError(t, s.DeleteToken(ctx, old[3].Token.ID))
	require.NoError(t, s.Check(ctx))
}

// TestTokensSharingAHashPrefixAreToldApartByID: the ID index keeps only
// the first idRefLen bytes of a hash, so two tokens whose hashes share
// them must still each be found by their own ID, before and after the
// other is deleted.
func TestTokensSharingAHashPrefixAreToldApartByID(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "p.db"), &Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	mk := func(id string, last byte) *apitoken.Token {
		h := apitoken.Hash{1, 2, 3, 4, 5, 6, 7, 8}
		h[31] = last
		return &apitoken.Token{ID: id, Hash: h, Kind: apitoken.KindAPI, Owner: apitoken.OwnerAccount, Account: "acme",
			Lineage: id, Privilege: apitoken.Normal, DefaultAppState: apitoken.Allow, Created: now}
	}
	a, b, c := mk("token-a", 2), mk("token-b", 1), mk("token-c", 3) // b sorts first in the records bucket
	for _, tk := range []*apitoken.Token{a, b, c} {
		require.NoError(t, s.CreateToken(ctx, tk))
	}
	for _, tk := range []*apitoken.Token{a, b, c} {
		got, err := s.TokenByID(ctx, tk.ID)
		require.NoError(t, err)
		assert.Equal(t, tk.Hash, got.Hash, tk.ID)
	}
	require.NoError(t, s.DeleteToken(ctx, b.ID))
	_, err = s.TokenByID(ctx, b.ID)
	assert.ErrorIs(t, err, apitoken.ErrNotFound)
	for _, tk := range []*apitoken.Token{a, c} {
		got, err := s.TokenByID(ctx, tk.ID)
		require.NoError(t, err)
		assert.Equal(t, tk.ID, got.ID)
	}
	require.NoError(t, s.Check(ctx))
}

// TestASchemaTwoFileIsMigratedToThree: a file whose API token indexes hold
// sessions too and which has no purge indexes (schema 2) is read as it is
// read-only, and opened for writing gets sessions moved to their own
// indexes and the purge indexes built: it passes Check, listings of one
// kind read only that kind, and a purge finds the ended records.
func TestASchemaTwoFileIsMigratedToThree(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	m, err := apitoken.New(s, &apitoken.Options{CacheSize: -1})
	require.NoError(t, err)
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	require.NoError(t, err)
	l, err := m.StartSession(ctx, u.ID)
	require.NoError(t, err)
	admin, err := m.Verify(ctx, l.Secret, "")
	require.NoError(t, err)
	for range 3 {
		_, err := m.StartSession(ctx, u.ID)
		require.NoError(t, err)
	}
	var tokens []apitoken.Issued
	for range 5 {
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{})
		require.NoError(t, err)
		tokens = append(tokens, iss)
	}
	require.NoError(t, m.Revoke(ctx, admin, tokens[0].Token.ID))
	m.Close()
	// Rewrite the file as schema-2 code left it.
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketTokens).ForEach(func(k, v []byte) error {
			tk, err := decodeToken(apitoken.Hash(k), v)
			if err != nil || tk.Kind != apitoken.KindSession {
				return err
			}
			if err := tx.Bucket(bucketByAccount).Put(accountKey(tk.Account, tk.Created, tk.ID), nil); err != nil {
				return err
			}
			return tx.Bucket(bucketByUser).Put(userKey(tk.Account, tk.UserID, tk.Created, tk.ID), nil)
		})
		if err != nil {
			return err
		}
		for _, b := range v3Buckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.AppendUvarint(nil, 2))
	}))
	require.NoError(t, s.Close())

	ro, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), schemaOf(t, ro), "a read-only open changes nothing")
	api, err := ro.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI})
	require.NoError(t, err)
	assert.Len(t, api, 5, "API tokens of a schema-2 file, read-only")
	require.NoError(t, ro.Close())

	s, err = Open(path, &Options{NoSync: true})
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, uint64(SchemaVersion), schemaOf(t, s))
	require.NoError(t, s.Check(ctx))
	api, err = s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI})
	require.NoError(t, err)
	assert.Len(t, api, 5)
	sessions, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme", UserID: u.ID, Kind: apitoken.KindSession})
	require.NoError(t, err)
	assert.Len(t, sessions, 4)
	all, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
	require.NoError(t, err)
	assert.Len(t, all, 9)
	n, err := s.PurgeTokens(ctx, apitoken.PurgeQuery{Kind: apitoken.KindAPI, EndedBefore: time.Now().Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the revoked token")
	n, err = s.PurgeTokens(ctx, apitoken.PurgeQuery{Kind: apitoken.KindSession, EndedBefore: time.Now(), IdleBefore: time.Now().Add(time.Hour), Limit: 10})
	require.NoError(t, err)
	assert.Equal(t, 4, n, "every session, idle an hour from now")
	require.NoError(t, s.Check(ctx))
}
