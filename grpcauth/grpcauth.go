// Package grpcauth authenticates gRPC calls with apitoken tokens: an auth
// function for the auth interceptors of
// github.com/grpc-ecosystem/go-grpc-middleware/v2, and server interceptors
// built on them. It is a module of its own, so the apitoken library does
// not depend on gRPC.
//
// A call carries its token as `authorization: bearer <token>` metadata,
// and may name its application in `x-app-name` metadata (as the Guard's
// X-App-Name header). Verification is the Manager's (apitoken.Verifier),
// so a call is accepted exactly when the Guard would accept an HTTP
// request with the same credential. Handlers find the Principal with
// apitoken.FromContext. A token's allow-list (Token.AllowedCIDRs) is
// checked against the call's peer address, when v is a Verifier that
// takes one (*apitoken.Manager's VerifyFrom); with any other Verifier, or
// without a peer address, such a token is refused.
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(grpcauth.UnaryServerInterceptor(m, nil)),
//		grpc.ChainStreamInterceptor(grpcauth.StreamServerInterceptor(m, nil)),
//	)
//
// Failures map to codes.Unauthenticated where the Guard answers 401
// (missing, malformed, unknown, revoked or expired tokens, tokens of
// disabled users, locked sessions, applications pending approval) and to
// codes.PermissionDenied where it answers 403 (denied applications, too
// many applications, a token used from outside its allow-list). A request the Guard would answer 400 is
// codes.InvalidArgument; a store failure is codes.Internal. Status
// messages are the library's fixed texts and never hold the token.
package grpcauth

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/apitoken/apitoken"
)

// DefaultAppMetadata is the metadata key that names the application when
// Options.AppMetadata is empty.
const DefaultAppMetadata = "x-app-name"

// Options configures AuthFunc and the interceptors. A nil *Options, and
// the zero value, mean defaults.
type Options struct {
	// AppMetadata are the metadata keys that name the application, first
	// non-empty wins. Default DefaultAppMetadata. With none, the Manager's
	// Options.DefaultApp applies.
	AppMetadata []string
}

func (o *Options) appKeys() []string {
	if o == nil || len(o.AppMetadata) == 0 {
		return []string{DefaultAppMetadata}
	}
	return o.AppMetadata
}

// AuthFunc returns the auth.AuthFunc that verifies a call's bearer token
// with v and puts its Principal in the call's context (see
// apitoken.NewContext). Use it with auth.UnaryServerInterceptor and
// auth.StreamServerInterceptor; the latter checks a stream once, when it
// starts (StreamServerInterceptor checks every message too).
func AuthFunc(v apitoken.Verifier, opts *Options) auth.AuthFunc {
	keys := opts.appKeys()
	return func(ctx context.Context) (context.Context, error) {
		p, err := verify(ctx, v, keys)
		if err != nil {
			return nil, err
		}
		return apitoken.NewContext(ctx, p), nil
	}
}

// verify checks the call's credential and maps a refusal to its status.
func verify(ctx context.Context, v apitoken.Verifier, appKeys []string) (apitoken.Principal, error) {
	tok, err := auth.AuthFromMD(ctx, "bearer")
	if err != nil {
		// No authorization metadata, or another scheme: the same answer
		// as a bad token, as the Guard gives.
		return apitoken.Principal{}, statusOf(apitoken.ErrMalformed)
	}
	var app string
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range appKeys {
		if vs := md.Get(k); len(vs) > 0 && strings.TrimSpace(vs[0]) != "" {
			app = strings.TrimSpace(vs[0])
			break
		}
	}
	var p apitoken.Principal
	if av, ok := v.(addrVerifier); ok {
		p, err = av.VerifyFrom(ctx, strings.TrimSpace(tok), app, peerAddr(ctx))
	} else {
		p, err = v.Verify(ctx, strings.TrimSpace(tok), app)
	}
	if err != nil {
		return apitoken.Principal{}, statusOf(err)
	}
	return p, nil
}

// addrVerifier is a Verifier that takes the client address.
type addrVerifier interface {
	VerifyFrom(ctx context.Context, token, app string, addr netip.Addr) (apitoken.Principal, error)
}

// peerAddr is the call's peer address, or the zero Addr when the
// transport has none (a Unix socket, an in-memory listener).
func peerAddr(ctx context.Context) netip.Addr {
	pr, ok := peer.FromContext(ctx)
	if !ok || pr.Addr == nil {
		return netip.Addr{}
	}
	if ta, ok := pr.Addr.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(pr.Addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// statusOf maps a verification failure to a gRPC status through the
// Guard's HTTP mapping, so both transports refuse alike.
func statusOf(err error) error {
	e := apitoken.HTTPErrorOf(err)
	code := codes.Internal
	switch {
	case e.Status == 401:
		code = codes.Unauthenticated
	case e.Status == 403:
		code = codes.PermissionDenied
	case e.Status == 429:
		code = codes.ResourceExhausted
	case e.Status == 503:
		code = codes.Unavailable
	case e.Status >= 400 && e.Status < 500:
		code = codes.InvalidArgument
	}
	return status.Error(code, e.Message)
}

// UnaryServerInterceptor authenticates every unary call: it is
// auth.UnaryServerInterceptor over AuthFunc.
func UnaryServerInterceptor(v apitoken.Verifier, opts *Options) grpc.UnaryServerInterceptor {
	return auth.UnaryServerInterceptor(AuthFunc(v, opts))
}

// StreamServerInterceptor authenticates every stream when it starts, as
// auth.StreamServerInterceptor over AuthFunc does, and then verifies the
// same credential again before every message the server receives or
// sends. A token revoked (or a user disabled, or an application denied)
// while a stream is open therefore stops it at its next message: that
// message is not delivered, and the stream ends with the refusal's status
// (codes.Unauthenticated for a revoked token), whatever the handler
// returns. A hot verification costs no store access, so the check per
// message is cheap.
func StreamServerInterceptor(v apitoken.Verifier, opts *Options) grpc.StreamServerInterceptor {
	keys := opts.appKeys()
	start := auth.StreamServerInterceptor(AuthFunc(v, opts))
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return start(srv, ss, info, func(srv any, stream grpc.ServerStream) error {
			rs := &recheckedStream{ServerStream: stream, v: v, keys: keys}
			err := handler(srv, rs)
			if refused := rs.refusal(); refused != nil {
				return refused // handlers may mask a send error (health's Watch answers Canceled)
			}
			return err
		})
	}
}

// recheckedStream verifies the stream's credential before each message.
// A handler may receive and send from two goroutines at once.
type recheckedStream struct {
	grpc.ServerStream
	v    apitoken.Verifier
	keys []string

	mu      sync.Mutex
	refused error // the first refusal; every later message is refused too
}

func (s *recheckedStream) refusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

func (s *recheckedStream) check() error {
	if err := s.refusal(); err != nil {
		return err
	}
	if _, err := verify(s.Context(), s.v, s.keys); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.refused == nil {
			s.refused = err
		}
		return s.refused
	}
	return nil
}

// RecvMsg receives the next message once the credential still verifies.
func (s *recheckedStream) RecvMsg(m any) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return s.check() // revoked while the server waited for the message
}

// SendMsg sends m once the credential still verifies.
func (s *recheckedStream) SendMsg(m any) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.ServerStream.SendMsg(m)
}
