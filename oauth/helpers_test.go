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
	m     *apitoken.Manager
	g     *apitoken.Guard
	clock *storetest.Clock
	storetest.Secrets
}

func newHTTPEnv(t *testing.T, store apitoken.Store) *httpEnv {
	t.Helper()
	e := &httpEnv{clock: storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))}
	m, err := apitoken.New(store, &apitoken.Options{Now: e.clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e.m = m
	e.g = apitoken.NewGuard(m, nil)
	logins, err := login.New(m, store, nil)
	require.NoError(t, err)
	e.Secrets = storetest.IssueSecrets(t, m, logins, e.clock)
	return e
}

// assertErrorBody checks the library's JSON failure body and its code.
func assertErrorBody(t *testing.T, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	var body struct{ Error apitoken.HTTPError }
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
