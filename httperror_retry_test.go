package apitoken_test

import (
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// Only a 503 answer (login's busy one) tells the client when to retry,
// whether the host writes it with HTTPError.Write or renders its own body from
// RetryAfter.
func TestRetryAfterOnlyWhenBusy(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{login.ErrBusy, "1"},
		{login.ErrThrottled, ""},
		{apitoken.ErrUnknown, ""},
		{errors.New("boom"), ""},
	} {
		he := apitoken.HTTPErrorOf(tc.err)
		if got := he.RetryAfter(); got != tc.want {
			t.Errorf("%v: RetryAfter %q, want %q", tc.err, got, tc.want)
		}
		rec := httptest.NewRecorder()
		he.Write(rec, "api")
		if got := rec.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Write sent Retry-After %q, want %q", tc.err, got, tc.want)
		}
	}
}
