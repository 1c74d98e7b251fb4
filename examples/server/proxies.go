package main

import (
	"net/http"

	"github.com/apitoken/apitoken/oauth"
)

// forwardAuth answers a reverse proxy's forward-authentication request
// (nginx auth_request, Caddy forward_auth): 200 with X-Auth-* identity
// headers, or the Guard's 401 or 403.
func (s *server) forwardAuth(w http.ResponseWriter, r *http.Request) error {
	s.guard.ForwardAuth().ServeHTTP(w, r)
	return nil
}

// introspect is token introspection (RFC 7662) for admin account tokens,
// inside the Guard.
func (s *server) introspect(w http.ResponseWriter, r *http.Request) error {
	oauth.IntrospectionHandler(s.m, nil).ServeHTTP(w, r)
	return nil
}

// revokeByPossession is token revocation (RFC 7009): form-encoded token=,
// 200 whatever the token's state.
func (s *server) revokeByPossession(w http.ResponseWriter, r *http.Request) error {
	oauth.RevocationHandler(s.m, nil).ServeHTTP(w, r)
	return nil
}
