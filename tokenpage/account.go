package tokenpage

import (
	"cmp"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// The account area: who is signed in, the second factor, the password and
// the user's own sessions. Password and MFA are the Store's own user
// records; with the host's sign-in (Options.SignedInAs) they are the
// host's business and the area shows only the sessions.

func (p *Handler) account(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, v *view) {
	v.Notice = notices[r.URL.Query().Get("done")]
	p.renderAccount(w, r, pr, v, http.StatusOK)
}

// renderAccount fills the sessions and renders the account area.
func (p *Handler) renderAccount(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, v *view, status int) {
	v.Section = "account"
	ss, err := p.m.Sessions(r.Context(), pr)
	if err != nil {
		p.fail(w, r, pr, err)
		return
	}
	// This browser's session first, then the others, oldest first.
	slices.SortStableFunc(ss, func(a, b *apitoken.Token) int {
		return cmp.Compare(b2i(b.ID == pr.TokenID), b2i(a.ID == pr.TokenID))
	})
	v.Sessions = ss
	p.render(w, r, status, v)
}

// accountFail shows err on the account area.
func (p *Handler) accountFail(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, err error) {
	he := apitoken.HTTPErrorOf(err)
	if ra := he.RetryAfter(); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	v := &view{}
	if pe, ok := err.(*pageError); ok {
		v.Error, he.Status = pe.msg, http.StatusBadRequest
	} else if errors.Is(err, login.ErrBadCredentials) {
		v.Error = "Your current password is not right."
	} else {
		v.Error = p.message(he, err)
	}
	if errf := p.fillCommon(r.Context(), v, pr); errf != nil {
		p.fail(w, r, pr, errf)
		return
	}
	p.renderAccount(w, r, pr, v, he.Status)
}

func (p *Handler) changePassword(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if p.opts.Login == nil {
		p.accountFail(w, r, pr, errNoLogin)
		return
	}
	f := r.PostForm
	next := f.Get("new_password")
	if next == "" || next != f.Get("repeat_password") {
		p.accountFail(w, r, pr, errPasswordsDiffer)
		return
	}
	if _, err := p.opts.Login.UpdateUser(r.Context(), pr, pr.UserID, login.UserUpdate{Password: &next, CurrentPassword: f.Get("current_password")}); err != nil {
		p.accountFail(w, r, pr, err)
		return
	}
	// A password change ends every session of the user, this one too:
	// start a new one so that the user stays signed in here.
	l, err := p.m.StartSession(r.Context(), pr.UserID)
	if err != nil {
		p.setCookie(w, r, "")
		p.redirect(w, r, "password")
		return
	}
	p.setCookie(w, r, l.Secret)
	if !l.Token.Unlocked {
		p.redirect(w, r, "password") // the code step first
		return
	}
	p.redirectTo(w, r, "account", listState{}, "password")
}

// errPasswordsDiffer is shown when the new password and its repetition
// differ.
var errPasswordsDiffer = &pageError{"The new password and its repetition differ."}

// errNoLogin is shown for password and second-factor forms when the page
// has no password login (Options.Login): the host's sign-in owns them.
var errNoLogin = &pageError{"Your organisation's sign-in manages your password and second factor."}

// pageError is a message of the page's own, shown as it is.
type pageError struct{ msg string }

func (e *pageError) Error() string { return e.msg }

func (p *Handler) enrolMFA(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if p.opts.Login == nil {
		p.accountFail(w, r, pr, errNoLogin)
		return
	}
	e, err := p.opts.Login.EnrollMFA(r.Context(), pr, r.PostForm.Get("code"))
	if err != nil {
		p.accountFail(w, r, pr, err)
		return
	}
	v := &view{Enrol: &e}
	if err := p.fillCommon(r.Context(), v, pr); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	if p.opts.QRCode != nil {
		modules, err := p.opts.QRCode(e.URL)
		if err != nil {
			p.opts.Logger.Error("tokenpage: drawing the MFA QR code", "err", err) // never the URL: it holds the secret
		} else {
			v.QR = qrSVG(modules)
		}
	}
	p.renderAccount(w, r, pr, v, http.StatusOK)
}

func (p *Handler) confirmMFA(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if p.opts.Login == nil {
		p.accountFail(w, r, pr, errNoLogin)
		return
	}
	if err := p.opts.Login.ConfirmMFA(r.Context(), pr, r.PostForm.Get("code")); err != nil {
		p.accountFail(w, r, pr, err)
		return
	}
	p.redirectTo(w, r, "account", listState{}, "mfa-on")
}

func (p *Handler) removeMFA(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if p.opts.Login == nil {
		p.accountFail(w, r, pr, errNoLogin)
		return
	}
	if err := p.opts.Login.RemoveMFA(r.Context(), pr, r.PostForm.Get("code")); err != nil {
		p.accountFail(w, r, pr, err)
		return
	}
	p.redirectTo(w, r, "account", listState{}, "mfa-off")
}

func (p *Handler) endOthers(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if _, err := p.m.EndOtherSessions(r.Context(), pr); err != nil {
		p.accountFail(w, r, pr, err)
		return
	}
	p.redirectTo(w, r, "account", listState{}, "ended")
}

// qrSVG draws QR modules (rows of columns, true for dark) as an inline
// SVG with a four-module quiet zone, dark on white in either colour scheme.
// The encoding is the QR library's (Options.QRCode); this only draws its
// matrix, one path of horizontal runs. Inline SVG needs no image request,
// so the page's Content-Security-Policy stays as it is.
func qrSVG(modules [][]bool) template.HTML {
	n := len(modules)
	if n == 0 || n > 200 {
		return ""
	}
	var d strings.Builder
	for y, rowBits := range modules {
		if len(rowBits) != n {
			return ""
		}
		for x := 0; x < n; {
			if !rowBits[x] {
				x++
				continue
			}
			start := x
			for x < n && rowBits[x] {
				x++
			}
			d.WriteString("M" + strconv.Itoa(start+4) + " " + strconv.Itoa(y+4) + "h" + strconv.Itoa(x-start) + "v1h-" + strconv.Itoa(x-start) + "z")
		}
	}
	size := strconv.Itoa(n + 8)
	// Only digits and fixed text go into the markup.
	return template.HTML(`<svg class="qr" role="img" aria-label="QR code of the authenticator set-up link" viewBox="0 0 ` + size + " " + size +
		`" width="200" height="200" shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg"><rect width="` + size + `" height="` + size +
		`" fill="#fff"/><path fill="#000" d="` + d.String() + `"/></svg>`)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
