package apitoken_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// Introspect answers an active token of the caller's account with its
// Principal and times; a token from before tokens carried their issue time
// gets its issue time from its record; another account's token is
// inactive: the zero Principal and no error.
func TestIntrospectTimesAndAccounts(t *testing.T) {
	m, s := newManager(t, nil)
	iss := issueAPIToken(t, m)
	caller := apitoken.Principal{Account: "acme"}

	p, issued, expires, err := m.Introspect(ctx, caller, iss.Secret)
	require.NoError(t, err)
	assert.Equal(t, iss.Token.ID, p.TokenID)
	assert.Equal(t, iss.Token.Created.Unix(), issued.Unix())
	assert.True(t, expires.Equal(iss.Token.Expires), "expires %v, want %v", expires, iss.Token.Expires)

	p, issued, expires, err = m.Introspect(ctx, apitoken.Principal{Account: "globex"}, iss.Secret)
	require.NoError(t, err)
	assert.Equal(t, apitoken.Principal{}, p, "another account's token is inactive")
	assert.True(t, issued.IsZero() && expires.IsZero())

	legacy := apitoken.WithoutIssueTime(iss.Secret)
	rec, err := s.TokenByID(ctx, iss.Token.ID)
	require.NoError(t, err)
	old := rec.Clone()
	old.ID, old.Lineage, old.Hash, old.Version = "legacy0000000000", "legacy0000000000", m.HashOf(legacy), 0
	old.Created = rec.Created.Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, s.CreateToken(ctx, old))
	p, issued, _, err = m.Introspect(ctx, caller, legacy)
	require.NoError(t, err)
	assert.Equal(t, "legacy0000000000", p.TokenID)
	assert.True(t, issued.Equal(old.Created), "issued %v, want the record's %v", issued, old.Created)
}
