package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

// httpEnv is a Manager on a test clock with a Guard, and tokens of account
// acme in every state an endpoint must tell apart.
type httpEnv struct {
	m                                          *apitoken.Manager
	g                                          *apitoken.Guard
	clock                                      *storetest.Clock
	live, readOnly, revoked, expired, disabled string
	pending, denied, locked                    string
}

func newHTTPEnv(t *testing.T, store apitoken.Store) *httpEnv {
	t.Helper()
	e := &httpEnv{clock: storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))}
	m, err := apitoken.New(store, &apitoken.Options{Now: e.clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.g = apitoken.NewGuard(m, nil)
	mk := func(role apitoken.Privilege, name string) apitoken.Principal {
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: role})
		require.NoError(t, err)
		l, err := m.StartSession(ctx, u.ID)
		require.NoError(t, err)
		p, err := m.Verify(ctx, l.Secret, "")
		require.NoError(t, err)
		return p
	}
	issue := func(p apitoken.Principal, req apitoken.IssueRequest) apitoken.Issued {
		iss, err := m.Issue(ctx, p, req)
		require.NoError(t, err)
		return iss
	}
	admin := mk(apitoken.Admin, "admin@example.com")
	user := mk(apitoken.Normal, "user@example.com")
	e.live = issue(user, apitoken.IssueRequest{}).Secret
	e.readOnly = issue(user, apitoken.IssueRequest{Privilege: apitoken.ReadOnly}).Secret
	rev := issue(user, apitoken.IssueRequest{})
	require.NoError(t, m.Revoke(ctx, user, rev.Token.ID))
	e.revoked = rev.Secret
	e.expired = issue(user, apitoken.IssueRequest{Expires: e.clock.Now().Add(time.Second)}).Secret
	e.pending = issue(user, apitoken.IssueRequest{DefaultAppState: apitoken.Pending}).Secret
	e.denied = issue(user, apitoken.IssueRequest{DefaultAppState: apitoken.Deny}).Secret
	doomed := mk(apitoken.Normal, "leaver@example.com")
	e.disabled = issue(doomed, apitoken.IssueRequest{}).Secret
	disabled := true
	_, err = m.UpdateUser(ctx, admin, doomed.UserID, apitoken.UserUpdate{Disabled: &disabled})
	require.NoError(t, err)
	mfaUser, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "mfa@example.com", Role: apitoken.Normal})
	require.NoError(t, err)
	l, _ := m.StartSession(ctx, mfaUser.ID)
	mp, _ := m.Verify(ctx, l.Secret, "")
	logins, err := login.New(m, store, nil)
	require.NoError(t, err)
	storetest.EnableMFA(t, logins, mp, e.clock.Now())
	ml, err := m.StartSession(ctx, mfaUser.ID)
	require.NoError(t, err)
	e.locked = ml.Secret
	e.clock.Advance(time.Second) // the expiring token is now expired
	return e
}

// assertErrorBody checks the library's JSON failure body and its code.
func assertErrorBody(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	var body apitoken.ErrorBody
	d := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	d.DisallowUnknownFields()
	require.NoError(t, d.Decode(&body))
	assert.Equal(t, code, body.Error.Code)
	assert.NotEmpty(t, body.Error.Message)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	if rec.Code == 401 {
		assert.Equal(t, `Bearer realm="api"`, rec.Header().Get("WWW-Authenticate"))
	}
}
