package storetest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// SkipUnlessRequired skips a test that needs an outside program or server
// (PostgreSQL, a browser, node, a proxy) the machine lacks. When
// requireEnv is "1" (CI sets it) the skip is a failure instead.
//
// `go test` prints nothing of a passing package but its "ok" line, so a
// silent skip would look like a pass: the first skip for each reason also
// writes one line to the terminal (/dev/tty), which shows even without
// -v; without a terminal it goes to standard error.
func SkipUnlessRequired(tb testing.TB, requireEnv, reason string) {
	tb.Helper()
	if os.Getenv(requireEnv) == "1" {
		tb.Fatalf("%s (%s=1 makes this a failure)", reason, requireEnv)
	}
	announceSkip(reason)
	tb.Skip(reason)
}

var announced sync.Map // reason -> struct{}

// announceSkip writes the visible skip line, once per reason and process.
func announceSkip(reason string) {
	if _, done := announced.LoadOrStore(reason, struct{}{}); done {
		return
	}
	line := fmt.Sprintf("SKIPPED in %s: %s\n", filepath.Base(os.Args[0]), reason)
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if _, err := tty.WriteString(line); err == nil {
			return
		}
	}
	os.Stderr.WriteString(line)
}
