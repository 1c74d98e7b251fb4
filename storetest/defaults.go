package storetest

import "time"

// The defaults apitoken.Options documents for the fields the suite leaves
// at zero. The suite checks that the Manager honours them, so they are
// written out here rather than read from the Manager.
const (
	defaultExpiry          = 10 * 365 * 24 * time.Hour // Options.DefaultExpiry
	defaultAppName         = "default"                 // Options.DefaultApp
	defaultIdleTimeout     = 30 * time.Minute          // Options.SessionIdleTimeout
	defaultAbsoluteTimeout = 12 * time.Hour            // Options.SessionAbsoluteTimeout
	defaultRetention       = 30 * 24 * time.Hour       // Options.Retention
)
