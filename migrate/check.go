package migrate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/apitoken/apitoken"
)

// CheckOptions configures Check. A nil *CheckOptions means defaults.
type CheckOptions struct {
	// Sample is how many users and how many tokens are compared. Default
	// DefaultSample.
	Sample int
	// IgnoreVersions compares records without their versions, for a
	// destination that is not an Importer.
	IgnoreVersions bool
	// Rand picks the sample. Default: a randomly seeded generator.
	Rand *rand.Rand
	// Progress, when set, is called with the number of records read so
	// far, now and then.
	Progress func(read int)
}

// Check compares dst with src after a migration: it walks src, counting
// its records and drawing a uniform random sample of them, walks dst to
// count its records, and reads every sampled record from dst by ID and by
// hash or name. It fails with ErrMismatch if dst holds fewer records than
// src or if a sampled record is missing or differs. Both stores must
// implement Walker; neither is written.
func Check(ctx context.Context, src, dst apitoken.Store, opts *CheckOptions) (CheckReport, error) {
	var o CheckOptions
	if opts != nil {
		o = *opts
	}
	if o.Sample <= 0 {
		o.Sample = DefaultSample
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	var rep CheckReport
	sw, ok := src.(Walker)
	if !ok {
		return rep, ErrNotWalker
	}
	dw, ok := dst.(Walker)
	if !ok {
		return rep, fmt.Errorf("migrate: the destination cannot be walked (not an Walker)")
	}
	read := 0
	progress := func(n int) {
		read += n
		if o.Progress != nil {
			o.Progress(read)
		}
	}
	var users []*apitoken.User
	var tokens []*apitoken.Token
	var err error
	rep.SourceUsers, err = walk(ctx, sw.WalkUsers, userID, func(u *apitoken.User, i int) {
		users = reservoir(users, u, i, o.Sample, o.Rand)
	}, progress)
	if err != nil {
		return rep, fmt.Errorf("migrate: reading the source's users: %w", err)
	}
	rep.SourceTokens, err = walk(ctx, sw.WalkTokens, tokenID, func(t *apitoken.Token, i int) {
		tokens = reservoir(tokens, t, i, o.Sample, o.Rand)
	}, progress)
	if err != nil {
		return rep, fmt.Errorf("migrate: reading the source's tokens: %w", err)
	}
	if rep.DestUsers, err = walk(ctx, dw.WalkUsers, userID, func(*apitoken.User, int) {}, progress); err != nil {
		return rep, fmt.Errorf("migrate: reading the destination's users: %w", err)
	}
	if rep.DestTokens, err = walk(ctx, dw.WalkTokens, tokenID, func(*apitoken.Token, int) {}, progress); err != nil {
		return rep, fmt.Errorf("migrate: reading the destination's tokens: %w", err)
	}
	rep.SampledUsers, rep.SampledTokens = len(users), len(tokens)
	var errs []error
	if rep.DestUsers < rep.SourceUsers || rep.DestTokens < rep.SourceTokens {
		errs = append(errs, fmt.Errorf("%w: the source holds %d users and %d tokens, the destination %d and %d",
			ErrMismatch, rep.SourceUsers, rep.SourceTokens, rep.DestUsers, rep.DestTokens))
	}
	for _, u := range users {
		got, err := dst.UserByID(ctx, u.ID)
		if err == nil && equalUser(got, u, o.IgnoreVersions) {
			got, err = dst.UserByName(ctx, u.Name)
		}
		if err != nil || got.ID != u.ID || !equalUser(got, u, o.IgnoreVersions) {
			errs = append(errs, fmt.Errorf("%w: user %q is missing or differs (%v)", ErrMismatch, u.ID, err))
		}
	}
	for _, t := range tokens {
		got, err := dst.TokenByID(ctx, t.ID)
		if err == nil && equalToken(got, t, o.IgnoreVersions) {
			got, err = dst.TokenByHash(ctx, t.Hash)
		}
		if err != nil || got.ID != t.ID || !equalToken(got, t, o.IgnoreVersions) {
			errs = append(errs, fmt.Errorf("%w: token %q is missing or differs (%v)", ErrMismatch, t.ID, err))
		}
	}
	if len(errs) > 10 {
		errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
	}
	return rep, errors.Join(errs...)
}

// walkPage is how many records each read of a walk asks for.
const walkPage = 1000

// walk reads every record through page, calling fn with each and its
// index, and returns how many there were.
func walk[T any](ctx context.Context, page func(context.Context, string, int) ([]T, error),
	id func(T) string, fn func(T, int), progress func(int)) (int, error) {
	n, after := 0, ""
	for {
		rs, err := page(ctx, after, walkPage)
		if err != nil {
			return n, err
		}
		for _, r := range rs {
			fn(r, n)
			n++
		}
		progress(len(rs))
		if len(rs) < walkPage {
			return n, nil
		}
		after = id(rs[len(rs)-1])
	}
}

// reservoir keeps a uniform sample of k records of a stream (Algorithm
// R): r is the i-th record (from 0).
func reservoir[T any](sample []T, r T, i, k int, rnd *rand.Rand) []T {
	if len(sample) < k {
		return append(sample, r)
	}
	if j := rnd.IntN(i + 1); j < k {
		sample[j] = r
	}
	return sample
}

func userID(u *apitoken.User) string   { return u.ID }
func tokenID(t *apitoken.Token) string { return t.ID }
