package grpcauth_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/grpcauth"
	"github.com/apitoken/apitoken/memstore"
)

// echoDesc is a bidirectional streaming service written by hand (no
// protoc): every StringValue received is sent back.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "apitoken.test.Echo",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "Echo", ServerStreams: true, ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			for {
				m := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(m); err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
				if err := stream.SendMsg(m); err != nil {
					return err
				}
			}
		},
	}},
}

// env is a real gRPC server on 127.0.0.1 with the health service and the
// echo service behind the interceptors, and a client connection to it.
type env struct {
	m      *apitoken.Manager
	health *health.Server
	conn   *grpc.ClientConn
	user   apitoken.Principal

	mu   sync.Mutex
	seen []apitoken.Principal // what unary handlers found in their context
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m, err := apitoken.New(memstore.New(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e := &env{m: m, health: health.NewServer()}
	ctx := context.Background()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "user@example.com", Role: apitoken.Normal})
	require.NoError(t, err)
	l, err := m.StartSession(ctx, u.ID)
	require.NoError(t, err)
	e.user, err = m.Verify(ctx, l.Secret, "")
	require.NoError(t, err)

	record := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		p, ok := apitoken.FromContext(ctx)
		if !ok {
			return nil, status.Error(codes.Internal, "no principal")
		}
		e.mu.Lock()
		e.seen = append(e.seen, p)
		e.mu.Unlock()
		return h(ctx, req)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(grpcauth.UnaryServerInterceptor(m, nil), record),
		grpc.ChainStreamInterceptor(grpcauth.StreamServerInterceptor(m, nil)),
	)
	healthpb.RegisterHealthServer(srv, e.health)
	srv.RegisterService(&echoDesc, struct{}{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	e.conn, err = grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { e.conn.Close() })
	return e
}

func (e *env) issue(t *testing.T, req apitoken.IssueRequest) apitoken.Issued {
	t.Helper()
	iss, err := e.m.Issue(context.Background(), e.user, req)
	require.NoError(t, err)
	return iss
}

// with returns a context whose calls carry md as metadata.
func with(md ...string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), md...)
}

func TestUnaryCalls(t *testing.T) {
	e := newEnv(t)
	live := e.issue(t, apitoken.IssueRequest{})
	revoked := e.issue(t, apitoken.IssueRequest{})
	require.NoError(t, e.m.Revoke(context.Background(), e.user, revoked.Token.ID))
	pending := e.issue(t, apitoken.IssueRequest{DefaultAppState: apitoken.Pending})
	denied := e.issue(t, apitoken.IssueRequest{DefaultAppState: apitoken.Deny})
	inside := e.issue(t, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	outside := e.issue(t, apitoken.IssueRequest{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	unknown, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	client := healthpb.NewHealthClient(e.conn)
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code codes.Code
	}{
		{"a live token is allowed", with("authorization", "Bearer "+live.Secret), codes.OK},
		{"a lower-case scheme and an app name are allowed", with("authorization", "bearer "+live.Secret, "x-app-name", "ci"), codes.OK},
		{"no metadata is unauthenticated", context.Background(), codes.Unauthenticated},
		{"another scheme is unauthenticated", with("authorization", "Basic "+live.Secret), codes.Unauthenticated},
		{"an unknown token is unauthenticated", with("authorization", "Bearer "+unknown), codes.Unauthenticated},
		{"garbage is unauthenticated", with("authorization", "Bearer garbage"), codes.Unauthenticated},
		{"a revoked token is unauthenticated", with("authorization", "Bearer "+revoked.Secret), codes.Unauthenticated},
		{"an app pending approval is unauthenticated", with("authorization", "Bearer "+pending.Secret), codes.Unauthenticated},
		{"a denied app is permission denied", with("authorization", "Bearer "+denied.Secret), codes.PermissionDenied},
		{"an allow-listed token from inside its range is allowed", with("authorization", "Bearer "+inside.Secret, "x-app-name", "inside"), codes.OK},
		{"an allow-listed token from outside its range is permission denied", with("authorization", "Bearer "+outside.Secret), codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.Check(tc.ctx, &healthpb.HealthCheckRequest{})
			assert.Equal(t, tc.code, status.Code(err), "%v", err)
			if err != nil {
				assert.NotContains(t, err.Error(), live.Secret)
				assert.NotContains(t, err.Error(), denied.Secret)
			}
		})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	require.NotEmpty(t, e.seen)
	assert.Equal(t, live.Token.ID, e.seen[0].TokenID, "the handler found the Principal in its context")
	assert.Equal(t, "default", e.seen[0].App)
	assert.Equal(t, "ci", e.seen[1].App)
}

// TestStreams: a stream starts only with a valid token, and a token
// revoked while a stream is open stops it at its next message, received
// or sent.
func TestStreams(t *testing.T) {
	e := newEnv(t)
	bg := context.Background()
	t.Run("a stream without a valid token does not start", func(t *testing.T) {
		revoked := e.issue(t, apitoken.IssueRequest{})
		require.NoError(t, e.m.Revoke(bg, e.user, revoked.Token.ID))
		for _, ctx := range []context.Context{bg, with("authorization", "Bearer "+revoked.Secret)} {
			cs, err := e.conn.NewStream(ctx, &echoDesc.Streams[0], "/apitoken.test.Echo/Echo")
			require.NoError(t, err)
			// The server may refuse the stream before the message is sent:
			// SendMsg then returns io.EOF and RecvMsg gives the status.
			if err := cs.SendMsg(wrapperspb.String("hello")); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			err = cs.RecvMsg(new(wrapperspb.StringValue))
			assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
		}
	})
	t.Run("a denied application's stream is permission denied", func(t *testing.T) {
		denied := e.issue(t, apitoken.IssueRequest{DefaultAppState: apitoken.Deny})
		w, err := healthpb.NewHealthClient(e.conn).Watch(with("authorization", "Bearer "+denied.Secret), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = w.Recv()
		assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
	})
	t.Run("revoked while streaming: the next message received is refused", func(t *testing.T) {
		tok := e.issue(t, apitoken.IssueRequest{})
		cs, err := e.conn.NewStream(with("authorization", "Bearer "+tok.Secret), &echoDesc.Streams[0], "/apitoken.test.Echo/Echo")
		require.NoError(t, err)
		for _, msg := range []string{"one", "two"} {
			require.NoError(t, cs.SendMsg(wrapperspb.String(msg)))
			got := new(wrapperspb.StringValue)
			require.NoError(t, cs.RecvMsg(got))
			assert.Equal(t, msg, got.Value)
		}
		require.NoError(t, e.m.RevokeSecret(bg, tok.Secret))
		require.NoError(t, cs.SendMsg(wrapperspb.String("three")))
		got := new(wrapperspb.StringValue)
		err = cs.RecvMsg(got)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
		assert.Empty(t, got.Value, "the message after the revoke was not echoed")
	})
	t.Run("revoked while streaming: the next message sent is refused", func(t *testing.T) {
		tok := e.issue(t, apitoken.IssueRequest{})
		e.health.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
		w, err := healthpb.NewHealthClient(e.conn).Watch(with("authorization", "Bearer "+tok.Secret), &healthpb.HealthCheckRequest{Service: "svc"})
		require.NoError(t, err)
		first, err := w.Recv()
		require.NoError(t, err)
		assert.Equal(t, healthpb.HealthCheckResponse_SERVING, first.Status)
		require.NoError(t, e.m.Revoke(bg, e.user, tok.Token.ID))
		e.health.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
		next, err := w.Recv()
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "%v", err)
		assert.Nil(t, next, "the update after the revoke was not sent")
	})
}
