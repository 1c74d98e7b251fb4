// Package migrate copies every user and token from one apitoken.Store to
// another: from the embedded bolt file to PostgreSQL when a host needs a
// second instance, or back, or between any two stores.
//
// Records move as they are: token hashes (so every token keeps verifying
// under the same hash key, and no secret is needed), versions, application
// records, usage, revocations, and users' password hashes, sealed MFA
// secrets and throttling counters. Versions are kept when the destination
// is an Importer (memstore, bolt and pgstore are); other stores
// are filled through their Create methods, which start versions again at
// 1 (verification does not read them).
//
// A migration is idempotent: records already in the destination and equal
// are skipped, so running it twice changes nothing. It is resumable: it
// works in batches, each committed atomically, and reports a Cursor after
// each one; a run given that Cursor (Options.Resume) continues after it.
// It refuses a destination that holds a different record (or a token
// hash, or a user name) under the same ID, with ErrDestinationDiffers;
// batches before the one that met it are copied, and equal to the source.
// It ends with Check: record counts and a random sample of records
// compared between the two stores.
//
// The source must not change during a migration: stop the hosts that
// write it (a bolt file is locked by its host anyway) or migrate from a
// backup.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/apitoken/apitoken"
)

var (
	// ErrNotWalker means the source store cannot list every record: it
	// does not implement Walker.
	ErrNotWalker = errors.New("migrate: the source store cannot be walked (not an Walker)")
	// ErrDestinationDiffers means the destination already holds a
	// different record with the ID of one being copied, a token with its
	// hash, or a user with its name. Nothing of that batch was written.
	ErrDestinationDiffers = errors.New("migrate: the destination holds a different record with the same ID")
	// ErrMismatch means the check after a migration found the destination
	// lacking or differing from the source.
	ErrMismatch = errors.New("migrate: the destination does not match the source")
)

// The phases of a migration, in order.
const (
	PhaseUsers  = "users"
	PhaseTokens = "tokens"
	PhaseDone   = "done"
)

// DefaultBatch is how many records one batch copies when Options.Batch is
// 0, and DefaultSample how many of each kind Check compares when
// Options.Sample is 0.
const (
	DefaultBatch  = 1000
	DefaultSample = 1000
)

// Count counts the records of one kind a migration has handled.
type Count struct {
	// Copied records were written to the destination.
	Copied int `json:"copied"`
	// Unchanged records were already there, equal.
	Unchanged int `json:"unchanged"`
}

// Cursor is where a migration stands: the phase, the last ID of that
// phase copied (in the source's walk order), and the counts so far. Its
// zero value is the beginning. It holds IDs and counts, no secret, and
// marshals to JSON for a checkpoint file.
type Cursor struct {
	Phase  string `json:"phase"`
	After  string `json:"after"`
	Users  Count  `json:"users"`
	Tokens Count  `json:"tokens"`
}

// Options configures Run. A nil *Options means defaults.
type Options struct {
	// Batch is how many records each batch copies. Default DefaultBatch.
	Batch int
	// Resume continues a migration from a Cursor it reported. The zero
	// Cursor starts at the beginning.
	Resume Cursor
	// Checkpoint, when set, is called after every batch is committed to
	// the destination, with the Cursor to resume after it; an error stops
	// the migration. Write it somewhere durable to resume after a crash.
	Checkpoint func(Cursor) error
	// Sample is how many users and how many tokens Check compares at the
	// end. Default DefaultSample; negative skips the check.
	Sample int
	// Rand picks the sample. Default: a randomly seeded generator.
	Rand *rand.Rand
}

// Report is what Run did.
type Report struct {
	// Cursor is the final cursor (PhaseDone), with the counts.
	Cursor
	// VersionsKept is true when the destination took records with their
	// versions (an Importer).
	VersionsKept bool `json:"versions_kept"`
	// Check is the result of the final check, nil if it was skipped.
	Check *CheckReport `json:"check,omitempty"`
}

// CheckReport is what Check compared.
type CheckReport struct {
	SourceUsers   int `json:"source_users"`
	SourceTokens  int `json:"source_tokens"`
	DestUsers     int `json:"dest_users"`
	DestTokens    int `json:"dest_tokens"`
	SampledUsers  int `json:"sampled_users"`
	SampledTokens int `json:"sampled_tokens"`
}

// Run copies every user, then every token, from src to dst, and then
// checks the result (see the package doc). src must implement
// Walker.
func Run(ctx context.Context, src, dst apitoken.Store, opts *Options) (Report, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Sample == 0 {
		o.Sample = DefaultSample
	}
	w, ok := src.(Walker)
	if !ok {
		return Report{}, ErrNotWalker
	}
	im, versions := dst.(Importer)
	c := o.Resume
	if c.Phase == "" {
		c.Phase = PhaseUsers
	}
	rep := Report{VersionsKept: versions}
	checkpoint := func() error {
		if o.Checkpoint == nil {
			return nil
		}
		return o.Checkpoint(c)
	}
	for c.Phase == PhaseUsers {
		us, err := w.WalkUsers(ctx, c.After, o.Batch)
		if err != nil {
			return rep, fmt.Errorf("migrate: reading users: %w", err)
		}
		added, err := copyUsers(ctx, dst, im, us)
		if err != nil {
			return rep, err
		}
		c.Users.Copied += added
		c.Users.Unchanged += len(us) - added
		if len(us) > 0 {
			c.After = us[len(us)-1].ID
		}
		if len(us) < o.Batch {
			c.Phase, c.After = PhaseTokens, ""
		}
		if err := checkpoint(); err != nil {
			return rep, err
		}
	}
	for c.Phase == PhaseTokens {
		ts, err := w.WalkTokens(ctx, c.After, o.Batch)
		if err != nil {
			return rep, fmt.Errorf("migrate: reading tokens: %w", err)
		}
		added, err := copyTokens(ctx, dst, im, ts)
		if err != nil {
			return rep, err
		}
		c.Tokens.Copied += added
		c.Tokens.Unchanged += len(ts) - added
		if len(ts) > 0 {
			c.After = ts[len(ts)-1].ID
		}
		if len(ts) < o.Batch {
			c.Phase, c.After = PhaseDone, ""
		}
		if err := checkpoint(); err != nil {
			return rep, err
		}
	}
	if c.Phase != PhaseDone {
		return rep, fmt.Errorf("%w: unknown phase %q in the cursor", apitoken.ErrInvalidArgument, c.Phase)
	}
	rep.Cursor = c
	if o.Sample < 0 {
		return rep, nil
	}
	cr, err := Check(ctx, src, dst, &CheckOptions{Sample: o.Sample, IgnoreVersions: !versions, Rand: o.Rand})
	rep.Check = &cr
	if err != nil {
		return rep, err
	}
	if n := c.Users.Copied + c.Users.Unchanged; n != cr.SourceUsers {
		return rep, fmt.Errorf("%w: the migration handled %d users, the source holds %d (was it written meanwhile?)", ErrMismatch, n, cr.SourceUsers)
	}
	if n := c.Tokens.Copied + c.Tokens.Unchanged; n != cr.SourceTokens {
		return rep, fmt.Errorf("%w: the migration handled %d tokens, the source holds %d (was it written meanwhile?)", ErrMismatch, n, cr.SourceTokens)
	}
	return rep, nil
}

// copyUsers writes a batch of users to dst and returns how many it added.
func copyUsers(ctx context.Context, dst apitoken.Store, im Importer, us []*apitoken.User) (int, error) {
	if im != nil {
		n, err := im.ImportUsers(ctx, us)
		return n, differs(err)
	}
	added := 0
	for _, u := range us {
		c := u.Clone()
		err := dst.CreateUser(ctx, c)
		if err == nil {
			added++
			continue
		}
		if !errors.Is(err, apitoken.ErrDuplicate) {
			return added, fmt.Errorf("migrate: writing user %q: %w", u.ID, err)
		}
		old, err := dst.UserByID(ctx, u.ID)
		if err != nil || !equalUser(old, u, true) {
			return added, fmt.Errorf("%w: user %q (or its name)", ErrDestinationDiffers, u.ID)
		}
	}
	return added, nil
}

// copyTokens is copyUsers for tokens.
func copyTokens(ctx context.Context, dst apitoken.Store, im Importer, ts []*apitoken.Token) (int, error) {
	if im != nil {
		n, err := im.ImportTokens(ctx, ts)
		return n, differs(err)
	}
	added := 0
	for _, t := range ts {
		err := dst.CreateToken(ctx, t.Clone())
		if err == nil {
			added++
			continue
		}
		if !errors.Is(err, apitoken.ErrDuplicate) {
			return added, fmt.Errorf("migrate: writing token %q: %w", t.ID, err)
		}
		old, err := dst.TokenByID(ctx, t.ID)
		if err != nil || !equalToken(old, t, true) {
			return added, fmt.Errorf("%w: token %q (or its hash)", ErrDestinationDiffers, t.ID)
		}
	}
	return added, nil
}

// differs maps an import's ErrDuplicate to ErrDestinationDiffers.
func differs(err error) error {
	if errors.Is(err, apitoken.ErrDuplicate) {
		return fmt.Errorf("%w (%v)", ErrDestinationDiffers, err)
	}
	if err != nil {
		return fmt.Errorf("migrate: writing: %w", err)
	}
	return nil
}

func equalToken(a, b *apitoken.Token, ignoreVersion bool) bool {
	if ignoreVersion && a != nil && b != nil {
		a = a.Clone()
		a.Version = b.Version
	}
	return a.Equal(b)
}

func equalUser(a, b *apitoken.User, ignoreVersion bool) bool {
	if ignoreVersion && a != nil && b != nil {
		a = a.Clone()
		a.Version = b.Version
	}
	return a.Equal(b)
}
