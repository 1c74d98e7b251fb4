// Package apitoken issues and verifies API tokens for Go services: the
// prefixed, checksummed tokens of GitHub and Stripe, stored only as keyed
// hashes, with the user and account tokens, privileges and per-application
// approval of Circonus, and sessions with MFA for hosts that let the
// library sign their users in.
//
// # Issuing and verifying
//
// A [Manager] holds every rule over a [Store]. Hosts issue tokens for their
// own users with [Manager.IssueFor], or let a credential issue one with
// [Manager.Issue]; [Manager.Verify] turns a presented token into a
// [Principal] (who, in which account, with what effective privilege). The
// secret is returned once, in [Issued]; stores keep only its HMAC-SHA256
// under [Options.HashKey] (see [LoadOrCreateHashKey]).
//
// # Protecting routes
//
// A [Guard] wraps net/http handlers: it finds the token (Authorization:
// Bearer, configured headers, HTTP Basic, or ?token= when enabled),
// verifies it, strips it from the request, and puts the [Principal] in the
// context ([FromContext]). [Guard.Require] gates routes by privilege.
// Failures answer one uniform JSON body per cause ([HTTPErrorOf]).
//
// # Users
//
// A host with its own users (its database, single sign-on) implements
// [Users] and sets [Options.Users]; the library then keeps no user record.
// Otherwise the store's own user records serve, with user management
// here ([Manager.AddUser], [Manager.UpdateUser]...) and password login and
// TOTP MFA in package login, which is built only on this package's
// exported API. Passwords and second factors change only from an unlocked
// session of their user, never from an API token.
//
// # Privileges and applications
//
// Privileges are read-only < normal < admin. A token's effective privilege
// is its own, capped by its owner's current role at every verification, and
// nobody grants more than they hold. A request may name its application;
// a name new to a token gets the token's default [AppState], and a pending
// or denied application is refused until the token's owner or an admin
// allows it.
//
// # Events and metrics
//
// Every change and refusal is an Event, typed by package event (stable
// numbers and dotted names such as "token.revoked"): Options.Logger logs
// them with log/slog, Options.OnEvent hands them to the host.
// Options.ObserveVerify receives one measurement per verification for
// metrics (module otelapitoken).
//
// # History
//
// Listings page with a cursor ([ListOptions]); [Manager.Purge], also run
// in the background, removes ended sessions at once and revoked or expired
// tokens after [Options.Retention].
//
// # Stores
//
// Stores persist and hold no policy: package memstore for tests, package
// bolt (one bbolt file) as the default, and the pgstore module for several
// instances on PostgreSQL. Package storetest checks any Store.
//
// Every rule is stated, numbered, in docs/behaviour.md; comments here cite
// them as "behaviour rule N". SECURITY.md has the threat model.
package apitoken
