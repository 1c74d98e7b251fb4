package storetest

import (
	"os"
	"testing"
)

// LongEnv is the environment variable that turns on the full sizes of the
// long tests (stress runs, the 10,000-sequence property test, kill -9
// cycles, million-token runs): APITOKEN_LONG=1. CI sets it; by default
// every test binary runs at a size a laptop finishes in seconds.
const LongEnv = "APITOKEN_LONG"

// Long reports whether the long sizes are on: LongEnv is "1" and -short
// is not given.
func Long() bool { return os.Getenv(LongEnv) == "1" && !testing.Short() }
