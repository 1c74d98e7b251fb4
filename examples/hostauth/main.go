// Command hostauth is a service that keeps its own users and signs them in
// its own way, and uses apitoken only for their API tokens: the shape most
// hosts have.
//
// Its users live in a map (in a real service: its database), and a
// stand-in for single sign-on signs them in (/sso/login?user=alice sets a
// signed cookie; a real service would use its SSO). Signed in, a user
// manages their tokens on the token page (/tokens/) or asks the service's
// own API for one (POST /api/tokens). Programs then call the API with
// those tokens (Authorization: Bearer …), and list and revoke them there.
// The library keeps no user record: it asks the service's directory.
//
//	go run ./examples/hostauth
//	curl -c jar 'http://127.0.0.1:8082/sso/login?user=alice'
//	curl -b jar -X POST http://127.0.0.1:8082/api/tokens -d '{"description":"laptop"}'
//	curl -H 'Authorization: Bearer atk_…' http://127.0.0.1:8082/api/whoami
package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"

	"github.com/apitoken/apitoken"
	tokenbolt "github.com/apitoken/apitoken/bolt"
	"github.com/apitoken/apitoken/tokenpage"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	db := flag.String("db", "./hostauth.db", "bbolt database file")
	flag.Parse()
	key, err := apitoken.LoadOrCreateHashKey(*db + ".key")
	if err != nil {
		log.Fatal(err)
	}
	store, err := tokenbolt.Open(*db, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	app, err := newApp(store, key, demoUsers())
	if err != nil {
		log.Fatal(err)
	}
	defer app.m.Close()
	fmt.Printf("listening on http://%s/ (sign in: http://%s/sso/login?user=alice)\n", *addr, *addr)
	log.Fatal(http.ListenAndServe(*addr, app.routes()))
}

// user is the service's own user record.
type user struct {
	ID, Team string
	Role     apitoken.Privilege
	Disabled bool
}

// directory is the service's user database, as apitoken.Users sees it.
type directory struct {
	mu    sync.RWMutex
	users map[string]user
}

func demoUsers() *directory {
	return &directory{users: map[string]user{
		"alice": {ID: "alice", Team: "acme", Role: apitoken.Admin},
		"bob":   {ID: "bob", Team: "acme", Role: apitoken.Normal},
		"carol": {ID: "carol", Team: "acme", Role: apitoken.ReadOnly},
	}}
}

// UserByID implements apitoken.Users: the library reads a user's account,
// current role and disabled flag from here, at every verification that
// misses its cache.
func (d *directory) UserByID(_ context.Context, id string) (*apitoken.User, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := d.users[id]
	if !ok {
		return nil, apitoken.ErrNotFound
	}
	return &apitoken.User{ID: u.ID, Account: u.Team, Role: u.Role, Disabled: u.Disabled}, nil
}

// app is the service.
type app struct {
	m     *apitoken.Manager
	users *directory
	guard *apitoken.Guard
	sso   []byte // signs the stand-in SSO cookie
}

func newApp(store apitoken.Store, key []byte, users *directory) (*app, error) {
	m, err := apitoken.New(store, &apitoken.Options{HashKey: key, Users: users})
	if err != nil {
		return nil, err
	}
	sso := make([]byte, 32)
	rand.Read(sso)
	return &app{m: m, users: users, guard: apitoken.NewGuard(m, nil), sso: sso}, nil
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sso/login", a.ssoLogin)
	mux.HandleFunc("GET /sso/logout", a.ssoLogout)
	mux.HandleFunc("POST /api/tokens", a.issue)
	mux.Handle("GET /api/tokens", a.guard.Handler(http.HandlerFunc(a.list)))
	mux.Handle("DELETE /api/tokens/{id}", a.guard.Handler(http.HandlerFunc(a.revoke)))
	mux.Handle("GET /api/whoami", a.guard.Handler(http.HandlerFunc(a.whoami)))
	page := tokenpage.New(a.m, &tokenpage.Options{BasePath: "/tokens/", SignedInAs: a.signedInAs, SignInURL: "/sso/login?user=alice"})
	mux.Handle("/tokens/", http.StripPrefix("/tokens", page))
	return mux
}

// --- the stand-in for single sign-on ---

const ssoCookie = "hostauth_sso"

func (a *app) sign(id string) string {
	mac := hmac.New(sha256.New, a.sso)
	mac.Write([]byte(id))
	return id + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// signedInAs is the service's sign-in as the token page asks for it: the
// user of a valid SSO cookie, or "".
func (a *app) signedInAs(r *http.Request) string {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		return ""
	}
	id, _, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(a.sign(id)), []byte(c.Value)) {
		return ""
	}
	return id
}

func (a *app) ssoLogin(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("user")
	if _, err := a.users.UserByID(r.Context(), id); err != nil {
		http.Error(w, "no such user", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Value: a.sign(id), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/tokens/", http.StatusSeeOther)
}

func (a *app) ssoLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: "/", MaxAge: -1})
	http.Redirect(w, r, "/tokens/", http.StatusSeeOther)
}

// --- the service's API ---

// issue gives the signed-in user a token, on the service's authority.
func (a *app) issue(w http.ResponseWriter, r *http.Request) {
	id := a.signedInAs(r)
	if id == "" {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	u, err := a.users.UserByID(r.Context(), id)
	if err != nil { // removed from the directory since signing in
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	var req struct {
		Description string             `json:"description"`
		Privilege   apitoken.Privilege `json:"privilege"`
	}
	if err = json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		http.Error(w, "a JSON body {\"description\", \"privilege\"} is expected", http.StatusBadRequest)
		return
	}
	iss, err := a.m.IssueFor(r.Context(), u.Account, u.ID,
		apitoken.IssueRequest{Description: req.Description, Privilege: req.Privilege})
	if err != nil {
		apitoken.HTTPErrorOf(err).Write(w, "api")
		return
	}
	writeJSON(w, map[string]any{"token": iss.Secret, "id": iss.Token.ID, "privilege": iss.Token.Privilege})
}

func (a *app) whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := apitoken.FromContext(r.Context())
	writeJSON(w, map[string]any{"user": p.UserID, "team": p.Account, "privilege": p.Privilege, "token": p.TokenID})
}

// list shows the caller's tokens (an admin's shows the team's).
func (a *app) list(w http.ResponseWriter, r *http.Request) {
	p, _ := apitoken.FromContext(r.Context())
	page, err := a.m.List(r.Context(), p, apitoken.ListOptions{Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		apitoken.HTTPErrorOf(err).Write(w, "api")
		return
	}
	out := []map[string]any{}
	for _, t := range page.Items {
		out = append(out, map[string]any{"id": t.ID, "description": t.Description, "privilege": t.Privilege, "hint": t.Hint, "user": t.UserID})
	}
	writeJSON(w, map[string]any{"results": out, "next": page.Next})
}

func (a *app) revoke(w http.ResponseWriter, r *http.Request) {
	p, _ := apitoken.FromContext(r.Context())
	if err := a.m.Revoke(r.Context(), p, r.PathValue("id")); err != nil {
		apitoken.HTTPErrorOf(err).Write(w, "api")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
