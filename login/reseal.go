package login

import (
	"context"
	"errors"
	"fmt"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

// ResealMFA is the MFA part of a hash key rotation (see Options.HashKeys
// of package apitoken): it walks every user and seals each MFA secret,
// active or pending, that is sealed under a key other than the current
// one again under the current key, in one compare-and-update of the user
// record through Manager.EditUser. It returns how many users it changed
// and, by key ID, how many secrets remain under an older key (a secret
// under a key the Manager no longer holds cannot be opened: that user
// must enrol again, or the key be configured again). Secrets of users who
// pass MFA move on their own too, when their code is accepted.
//
// The UserStore given to New must implement migrate.Walker.
func (s *Service) ResealMFA(ctx context.Context) (int, map[uint32]int, error) {
	w, ok := s.users.(migrate.Walker)
	if !ok {
		return 0, nil, fmt.Errorf("%w: the user store cannot walk its records (migrate.Walker)", errors.ErrUnsupported)
	}
	const page = 500
	moved, remain := 0, map[uint32]int{}
	after := ""
	for {
		us, err := w.WalkUsers(ctx, after, page)
		if err != nil {
			return moved, remain, storeErr(err)
		}
		for _, u := range us {
			if !s.sealer.stale(u.MFASecret) && !s.sealer.stale(u.MFAPending) {
				continue
			}
			var failed []byte
			_, err := s.m.EditUser(ctx, u.ID, func(u *apitoken.User) error {
				failed = nil
				for _, p := range []*[]byte{&u.MFASecret, &u.MFAPending} {
					if !s.sealer.stale(*p) {
						continue
					}
					resealed, err := s.sealer.reseal(*p, u.ID, s.opts.Rand)
					if err != nil {
						failed = *p
						continue
					}
					*p = resealed
				}
				return nil
			})
			switch {
			case errors.Is(err, apitoken.ErrNotFound): // deleted meanwhile
				continue
			case err != nil:
				return moved, remain, err
			}
			if failed != nil {
				id, _, _ := keyOf(failed)
				remain[id]++
			} else {
				moved++
			}
		}
		if len(us) < page {
			return moved, remain, nil
		}
		after = us[len(us)-1].ID
	}
}
