package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/oauth"
)

// oauthEnv is httpEnv plus an admin account token of acme (the default
// introspection caller), credentials of acme that may not introspect, and
// a token of another account.
type oauthEnv struct {
	*httpEnv
	introspector, adminSession, normalAccount, otherAccount string
	introspect, revoke                                      http.Handler
	store                                                   apitoken.Store
}

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	store := memstore.New()
	e := &oauthEnv{httpEnv: newHTTPEnv(t, store), store: store}
	admin := func(account string) (apitoken.Principal, string) {
		u, err := e.m.AddUser(ctx, apitoken.NewUser{Account: account, Name: "boss@" + account, Role: apitoken.Admin})
		require.NoError(t, err)
		l, err := e.m.StartSession(ctx, u.ID)
		require.NoError(t, err)
		p, err := e.m.Verify(ctx, l.Secret, "")
		require.NoError(t, err)
		return p, l.Secret
	}
	acme, session := admin("acme")
	e.adminSession = session
	issue := func(p apitoken.Principal, priv apitoken.Privilege) string {
		iss, err := e.m.Issue(ctx, p, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: priv})
		require.NoError(t, err)
		return iss.Secret
	}
	e.introspector = issue(acme, apitoken.Admin)
	e.normalAccount = issue(acme, apitoken.Normal)
	other, _ := admin("globex")
	e.otherAccount = issue(other, apitoken.Admin)
	e.introspect = e.g.Handler(oauth.IntrospectionHandler(e.m, nil))
	e.revoke = oauth.RevocationHandler(e.m, nil)
	return e
}

// post sends a form body to h, authenticated with caller if it is set.
func post(h http.Handler, caller, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/introspect", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if caller != "" {
		req.Header.Set("Authorization", "Bearer "+caller)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func form(tok string) string { return url.Values{"token": {tok}}.Encode() }

// TestIntrospectionIsUniformForEveryInvalidToken: malformed, unknown,
// revoked, expired, disabled-owner, pending- and denied-app, locked and
// other-account tokens all get the very same bytes.
func TestIntrospectionIsUniformForEveryInvalidToken(t *testing.T) {
	e := newOAuthEnv(t)
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	live := e.Live
	broken := live[:len(live)-1] + string(rune('A'+(live[len(live)-1]-'A'+1)%26)) // a wrong checksum
	for _, tc := range []struct{ name, token string }{
		{"malformed", "not-a-token"},
		{"a wrong checksum", broken},
		{"unknown", unknown},
		{"revoked", e.Revoked},
		{"expired", e.Expired},
		{"a disabled user's", e.Disabled},
		{"pending for the default application", e.Pending},
		{"denied for the default application", e.Denied},
		{"a locked session", e.Locked},
		{"another account's", e.otherAccount},
		{"over-long", strings.Repeat("a", 3000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(e.introspect, e.introspector, form(tc.token))
			require.Equal(t, 200, rec.Code, rec.Body.String())
			assert.Equal(t, []byte(`{"active":false}`), rec.Body.Bytes(), "byte for byte")
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		})
	}
}

// TestIntrospectionOfAValidToken: active, with the RFC's members and the
// library's own.
func TestIntrospectionOfAValidToken(t *testing.T) {
	e := newOAuthEnv(t)
	p, err := e.m.Verify(ctx, e.Live, "")
	require.NoError(t, err)
	rec := post(e.introspect, e.introspector, form(e.Live)+"&token_type_hint=access_token")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	now := e.clock.Now()
	assert.Equal(t, true, got["active"])
	assert.Equal(t, p.UserID, got["sub"])
	assert.Equal(t, p.TokenID, got["jti"])
	assert.Equal(t, "Bearer", got["token_type"])
	assert.Equal(t, "acme", got["account"])
	assert.Equal(t, "user", got["owner"])
	assert.Equal(t, "api", got["kind"])
	assert.Equal(t, "normal", got["privilege"])
	assert.Equal(t, float64(now.Add(10*365*24*time.Hour-time.Second).Unix()), got["exp"], "the default expiry (10 years), issued a second before the env's clock moved")
	assert.Equal(t, float64(now.Add(-time.Second).Unix()), got["iat"])
	assert.NotContains(t, got, "scope", "the library has no scopes")
	assert.NotContains(t, rec.Body.String(), e.Live)

	t.Run("an account token's subject is its account", func(t *testing.T) {
		rec := post(e.introspect, e.introspector, form(e.normalAccount))
		require.Equal(t, 200, rec.Code)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		assert.Equal(t, "acme", got["sub"])
		assert.Equal(t, "account", got["owner"])
	})
	t.Run("a session ends at its idle timeout", func(t *testing.T) {
		rec := post(e.introspect, e.introspector, form(e.adminSession))
		require.Equal(t, 200, rec.Code)
		var got map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		assert.Equal(t, "session", got["kind"])
		assert.Equal(t, float64(now.Add(30*time.Minute).Unix()), got["exp"], "the default idle timeout (30 minutes)")
	})
}

// TestIntrospectionCallers: only callers that Allow accepts; everyone else
// gets 401, before the request body is even read.
func TestIntrospectionCallers(t *testing.T) {
	e := newOAuthEnv(t)
	for _, tc := range []struct {
		name   string
		caller string
		status int
		code   string
	}{
		{"an admin account token may introspect", e.introspector, 200, ""},
		{"no credential gets 401", "", 401, "invalid_token"},
		{"a revoked credential gets 401", e.Revoked, 401, "invalid_token"},
		{"a normal account token gets 401", e.normalAccount, 401, "insufficient_privilege"},
		{"a user token gets 401", e.Live, 401, "insufficient_privilege"},
		{"an admin's session gets 401", e.adminSession, 401, "insufficient_privilege"},
		{"another account's admin token may introspect, its own account only", e.otherAccount, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := post(e.introspect, tc.caller, form(e.Live))
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status != 200 {
				assertErrorBody(t, rec, tc.code)
				return
			}
			active := tc.caller == e.introspector
			assert.Equal(t, active, !strings.Contains(rec.Body.String(), `"active":false`), rec.Body.String())
		})
	}
	t.Run("a host's Allow replaces the default", func(t *testing.T) {
		h := e.g.Handler(oauth.IntrospectionHandler(e.m, &oauth.IntrospectionOptions{
			Allow: func(p apitoken.Principal) bool { return p.Kind == apitoken.KindSession },
		}))
		assert.Equal(t, 200, post(h, e.adminSession, form(e.Live)).Code)
		assert.Equal(t, 401, post(h, e.introspector, form(e.Live)).Code)
	})
	t.Run("without a Guard nobody is a caller", func(t *testing.T) {
		rec := post(oauth.IntrospectionHandler(e.m, nil), e.introspector, form(e.Live))
		assert.Equal(t, 401, rec.Code)
	})
}

// TestTokenFormRequests: the request rules of both endpoints.
func TestTokenFormRequests(t *testing.T) {
	e := newOAuthEnv(t)
	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        string
		status      int
	}{
		{"a form POST is read", "POST", "application/x-www-form-urlencoded", form(e.Live), 200},
		{"a charset parameter is fine", "POST", "application/x-www-form-urlencoded; charset=utf-8", form(e.Live), 200},
		{"GET is refused", "GET", "application/x-www-form-urlencoded", form(e.Live), 405},
		{"JSON is refused", "POST", "application/json", `{"token":"x"}`, 415},
		{"no content type is refused", "POST", "", form(e.Live), 415},
		{"a missing token is refused", "POST", "application/x-www-form-urlencoded", "token_type_hint=access_token", 400},
		{"an empty token is refused", "POST", "application/x-www-form-urlencoded", "token=", 400},
		{"a repeated token is refused", "POST", "application/x-www-form-urlencoded", form(e.Live) + "&" + form(e.Live), 400},
		{"a broken escape is refused", "POST", "application/x-www-form-urlencoded", "token=%zz", 400},
		{"a body over 4 KiB is refused", "POST", "application/x-www-form-urlencoded", form(strings.Repeat("a", 5000)), 413},
	} {
		for name, h := range map[string]http.Handler{"introspect": e.introspect, "revoke": e.revoke} {
			t.Run(name+": "+tc.name, func(t *testing.T) {
				req := httptest.NewRequest(tc.method, "/x", strings.NewReader(tc.body))
				if tc.contentType != "" {
					req.Header.Set("Content-Type", tc.contentType)
				}
				req.Header.Set("Authorization", "Bearer "+e.introspector)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				require.Equal(t, tc.status, rec.Code, rec.Body.String())
				if tc.status != 200 {
					assertErrorBody(t, rec, "invalid_request")
					assert.NotContains(t, rec.Body.String(), e.Live)
				}
			})
		}
	}
	t.Run("a token in the URL is not read", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/x?token="+e.ReadOnly, strings.NewReader("a=b"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.revoke.ServeHTTP(rec, req)
		assert.Equal(t, 400, rec.Code)
		_, err := e.m.Verify(ctx, e.ReadOnly, "")
		assert.NoError(t, err, "not revoked")
	})
}

// TestRevocationEndpoint: 200 whatever the token's state, and a live token
// is revoked when the answer comes.
func TestRevocationEndpoint(t *testing.T) {
	e := newOAuthEnv(t)
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	var bodies []string
	for _, tok := range []string{e.Live, e.Live, e.Revoked, e.Expired, unknown, "not-a-token", e.adminSession} {
		rec := post(e.revoke, "", form(tok))
		require.Equal(t, 200, rec.Code, rec.Body.String())
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		bodies = append(bodies, rec.Body.String())
	}
	for _, b := range bodies {
		assert.Empty(t, b)
	}
	_, err := e.m.Verify(ctx, e.Live, "")
	assert.ErrorIs(t, err, apitoken.ErrRevoked)
	_, err = e.m.Verify(ctx, e.adminSession, "")
	assert.ErrorIs(t, err, apitoken.ErrRevoked, "a session is revoked by possession too")
	assert.Equal(t, []byte(`{"active":false}`), post(e.introspect, e.introspector, form(e.Live)).Body.Bytes())
}
