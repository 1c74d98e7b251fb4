package login

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"time"
)

// TOTP per RFC 6238 with HMAC-SHA-1, a 30 s step and 6 digits, the
// parameters every authenticator app supports.
const (
	totpStep   = 30
	totpDigits = 6
	totpSecret = 20 // bytes, as RFC 4226 recommends
)

// totpCode returns the code of secret for time step counter, with digits
// digits (RFC 4226 dynamic truncation).
func totpCode(secret []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac := hmac.New(sha1.New, secret)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// totpStepAt returns the RFC 6238 time step of t.
func totpStepAt(t time.Time) int64 { return t.Unix() / totpStep }

// matchTOTP returns the step (now-1, now or now+1) whose code equals code,
// or -1. All three are compared, in constant time, whatever matches.
func matchTOTP(secret []byte, code string, now time.Time) int64 {
	if len(code) != totpDigits {
		return -1
	}
	cur := totpStepAt(now)
	found := int64(-1)
	for _, s := range []int64{cur - 1, cur, cur + 1} {
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, s, totpDigits)), []byte(code)) == 1 {
			found = s
		}
	}
	return found
}

// otpauthURL is the provisioning URI authenticator apps scan.
func otpauthURL(issuer, account string, secret []byte) string {
	v := url.Values{}
	v.Set("secret", base32Secret(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return (&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}).String()
}

// base32Secret is the form authenticator apps take secrets in.
func base32Secret(secret []byte) string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
}

// TOTPCode returns the 6-digit RFC 6238 code of secret at time t, as an
// authenticator app shows it. It is for hosts' end-to-end tests and tools;
// verification uses Service.Unlock.
func TOTPCode(secret []byte, t time.Time) string {
	return totpCode(secret, totpStepAt(t), totpDigits)
}
