package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken/storetest"
)

// TestSeedJavaScriptClients runs the two JavaScript clients printed at the
// end of the source documents (testdata/, changed only in their base URL and
// credentials, and in 001 the delete call carries the session token) with
// node against a live server. Node prints errors to stderr from the
// clients' catch blocks and failed deletes; any output there fails the test.
// Without node the test skips, unless APITOKEN_REQUIRE_NODE=1 (as in CI).
func TestSeedJavaScriptClients(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		storetest.SkipUnlessRequired(t, "APITOKEN_REQUIRE_NODE", "node is not installed: the source documents' JavaScript clients did not run")
	}
	ts := startServer(t, t.TempDir())
	admin := ts.login("admin@example.com", adminPassword)
	r := ts.as(admin, "POST", "/api/v1/users", map[string]any{"name": "mary.griffin@circularo.com", "password": "#32Password1!", "privilege": "normal"})
	require.Equal(t, 201, r.status, string(r.body))
	mary := ts.login("mary.griffin@circularo.com", "#32Password1!")

	runClient := func(file string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(node, "--no-warnings", file) // Node 18 warns about fetch on stderr
		cmd.Dir = "testdata"
		cmd.Env = append(os.Environ(), "APITOKEN_URL="+ts.srv.URL, "APITOKEN_NAME=mary.griffin@circularo.com", "APITOKEN_PASSWORD=#32Password1!")
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Run(), "node %s: %s", file, stderr.String())
		require.Empty(t, stderr.String(), "node %s printed errors", file)
		return stdout.String()
	}

	runClient("seed000_create_and_use.mjs")
	keys := ts.as(mary, "GET", "/api/v1/api/key", nil).json(t)["results"].([]any)
	require.Len(t, keys, 1, "seed 000 created one API token")
	created := keys[0].(map[string]any)
	assert.Equal(t, "API token for server-to-server authentication", created["description"])
	assert.NotNil(t, created["apps"], "the token was used for the search")

	assert.NotNil(t, created["lastUsed"], "the listing shows seed 000's use before any flush")
	_, unusedID := ts.createKey(mary, map[string]any{"description": "never used"})

	// lastUsed is flushed only hourly in this test server: the listing
	// must still show seed 000's use, so the client keeps that token and
	// revokes only the one never used.
	out := runClient("seed001_list_and_revoke.mjs")
	assert.Contains(t, out, "Revoked unused API token: "+unusedID)
	assert.NotContains(t, out, created["id"].(string), "the client revoked the token used a moment ago")
	assert.NotContains(t, out, "Failed")
	left := ts.as(mary, "GET", "/api/v1/api/key", nil).json(t)["results"].([]any)
	require.Len(t, left, 1, "seed 001 kept the used token")
	assert.Equal(t, created["id"], left[0].(map[string]any)["id"])
	assert.False(t, strings.Contains(ts.logs.String(), "atk_"), "the server log holds a token")
}
