package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/apitoken/apitoken/pgstore/pgtest"
	"github.com/stretchr/testify/require"
)

// TestTwoServersOnPostgresShareTokensAndRevokes runs two server instances
// with -store postgres:// on one database and the same key file, as
// replicas behind a load balancer: a key created on one works on the other,
// and a revoke on one stops it on the other.
func TestTwoServersOnPostgresShareTokensAndRevokes(t *testing.T) {
	storeURL := pgtest.Schema(t)
	keyPath := filepath.Join(t.TempDir(), "apitoken.key")
	start := func() *testServer {
		c := config{storeURL: storeURL, keyPath: keyPath, adminName: "admin@example.com",
			adminPassword: adminPassword, account: "default", flush: time.Hour, maxBody: 64 << 10}
		app, err := open(context.Background(), c, io.Discard, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		require.NoError(t, err)
		ts := &testServer{t: t, srv: httptest.NewServer(app.routes()), app: app, logs: &bytes.Buffer{}}
		t.Cleanup(ts.stop)
		return ts
	}
	one, two := start(), start()
	admin := one.login("admin@example.com", adminPassword)
	key, id := one.createKey(admin, map[string]any{})
	search := map[string]any{"from": 0, "size": 1}
	for range 2 { // the first use records the app; the second is served from two's cache
		require.Equal(t, 200, two.as(key, "POST", "/api/v1/search", search).status)
	}
	require.Equal(t, 204, one.as(admin, "DELETE", "/api/v1/api/key/"+id, nil).status)
	deadline := time.Now().Add(time.Second)
	for {
		status := two.as(key, "POST", "/api/v1/search", search).status
		if status == 401 {
			break
		}
		require.Equal(t, 200, status)
		require.True(t, time.Now().Before(deadline), "the second server accepted a revoked key for 1 s")
		time.Sleep(time.Millisecond)
	}
}
