package apitoken

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// The secret-scanning partner protocol (GitHub's): a scanner that finds
// tokens matching Pattern in public code POSTs them, as a JSON array of
// {"token", "type", "url", "source"}, signed with ECDSA P-256 and SHA-256
// over the raw body. The signature travels base64-encoded (ASN.1 DER) in
// SecretScanningSignatureHeader, and SecretScanningKeyIDHeader names the
// signing key among those the scanner publishes. The answer is a JSON array
// of feedback: {"token_raw", "token_type", "label"} with label
// "true_positive" or "false_positive".
const (
	// SecretScanningKeyIDHeader names the key that signed the body.
	SecretScanningKeyIDHeader = "Github-Public-Key-Identifier"
	// SecretScanningSignatureHeader carries the signature of the body.
	SecretScanningSignatureHeader = "Github-Public-Key-Signature"

	// LabelTruePositive labels a reported token that was live and is now
	// revoked.
	LabelTruePositive = "true_positive"
	// LabelFalsePositive labels any other reported string.
	LabelFalsePositive = "false_positive"

	// DefaultSecretScanningMaxBody is SecretScanningOptions.MaxBody's
	// default, in bytes.
	DefaultSecretScanningMaxBody = 1 << 20
	// DefaultSecretScanningMaxMatches is SecretScanningOptions.MaxMatches's
	// default.
	DefaultSecretScanningMaxMatches = 1000

	// CodeInvalidSignature is the code of a secret-scanning request whose
	// signature is missing, malformed, by an unknown key or wrong (401).
	CodeInvalidSignature = "invalid_signature"
	// CodePayloadTooLarge is the code of a secret-scanning request whose
	// body or match count is over its bound (413).
	CodePayloadTooLarge = "payload_too_large"

	// maxScanURL and maxScanSource bound what an event keeps of a match's
	// url and source.
	maxScanURL    = 2048
	maxScanSource = 64
	// maxSignatureHeader bounds the signature header: a P-256 DER
	// signature is at most 72 bytes, 96 in base64.
	maxSignatureHeader = 256
)

// SecretScanningKeys are the public keys a SecretScanningHandler trusts, by
// key identifier. Every key must be ECDSA on P-256.
type SecretScanningKeys map[string]*ecdsa.PublicKey

// secretScanningKeyDoc is the shape of the scanner's published key
// document.
type secretScanningKeyDoc struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// ParseSecretScanningKeys parses the key document a scanner publishes (for
// GitHub, the JSON at api.github.com/meta/public_keys/secret_scanning):
//
//	{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----\n...", "is_current": true}]}
//
// Every listed key is trusted, current or not: a body signed just before a
// rotation still verifies. Keys that are not ECDSA P-256, empty or repeated
// identifiers, and a document without keys are ErrInvalidArgument.
func ParseSecretScanningKeys(doc []byte) (SecretScanningKeys, error) {
	var d secretScanningKeyDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("%w: secret-scanning key document: %v", ErrInvalidArgument, err)
	}
	keys := make(SecretScanningKeys, len(d.PublicKeys))
	for i, k := range d.PublicKeys {
		if k.KeyIdentifier == "" {
			return nil, fmt.Errorf("%w: secret-scanning key %d has no key_identifier", ErrInvalidArgument, i)
		}
		if _, dup := keys[k.KeyIdentifier]; dup {
			return nil, fmt.Errorf("%w: secret-scanning key_identifier %q listed twice", ErrInvalidArgument, k.KeyIdentifier)
		}
		pub, err := parseP256PublicKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: secret-scanning key %q: %v", ErrInvalidArgument, k.KeyIdentifier, err)
		}
		keys[k.KeyIdentifier] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: secret-scanning key document lists no keys", ErrInvalidArgument)
	}
	return keys, nil
}

// parseP256PublicKey parses one PEM "PUBLIC KEY" block holding an ECDSA
// P-256 key.
func parseP256PublicKey(s string) (*ecdsa.PublicKey, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("not one PEM PUBLIC KEY block")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return pub, nil
}

// SecretScanningOptions configures a SecretScanningHandler.
type SecretScanningOptions struct {
	// Keys are the trusted signing keys (see ParseSecretScanningKeys).
	// Required.
	Keys SecretScanningKeys
	// MaxBody bounds the request body in bytes; a larger one is refused
	// with 413 before its signature is checked. Default
	// DefaultSecretScanningMaxBody (1 MiB).
	MaxBody int64
	// MaxMatches bounds the matches of one request; more are refused with
	// 413 and none is acted on. Default DefaultSecretScanningMaxMatches.
	MaxMatches int
	// FeedbackHash answers each match with token_hash (hex SHA-256 of the
	// token, which the protocol also accepts) instead of echoing the
	// token as token_raw, so no secret is in the response. Default false:
	// token_raw.
	FeedbackHash bool
}

// SecretScanningMatch is one reported match: the token found, the token
// type the scanner registered, and where it was found.
type SecretScanningMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// SecretScanningFeedback is the answer about one match. Exactly one of
// TokenRaw and TokenHash is set.
type SecretScanningFeedback struct {
	TokenRaw  string `json:"token_raw,omitempty"`
	TokenHash string `json:"token_hash,omitempty"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// SecretScanningHandler receives a secret scanner's leak alerts and revokes
// the reported tokens by possession. Mount it on the route registered with
// the scanner (POST only); it needs no other credential than the body's
// signature.
//
// It refuses an oversized body (413), then a missing, malformed or wrong
// signature or an unknown key identifier (401, nothing parsed), then a body
// that is not a JSON array of matches (400) or holds more than MaxMatches
// (413, nothing revoked). Each match's token is handed to
// Manager.RevokeSecret: one that was a token of this Manager not yet
// revoked is revoked before the answer and labelled true_positive;
// anything else (malformed, unknown, already revoked, repeated in the
// request) is false_positive, writes no record and costs what
// RevokeSecret's other cases cost. The label is all the answer says: it
// does not tell unknown from revoked, nor name an account or token ID. A
// store failure is a 500 without detail, which the scanner retries.
//
// Every match emits EventLeakReported with its URL and Source (token-shaped
// text redacted, length bounded), the token's ID, account and user when
// this Manager issued it, and Err nil for a revocation or ErrMalformed,
// ErrUnknown or ErrRevoked. The token itself is never in an event.
//
// The signature covers the body only, and the protocol carries no nonce:
// a body replayed with its own valid signature verifies again, and is
// harmless, since every token in it is then already revoked (false_positive,
// no write). Any other signature (another body's, another key's, an
// altered one) is refused.
type SecretScanningHandler struct {
	m    *Manager
	opts SecretScanningOptions
	keys atomic.Pointer[SecretScanningKeys]
}

// NewSecretScanningHandler returns a handler that revokes through m. Options
// without keys are ErrInvalidArgument.
func NewSecretScanningHandler(m *Manager, opts *SecretScanningOptions) (*SecretScanningHandler, error) {
	var o SecretScanningOptions
	if opts != nil {
		o = *opts
	}
	if m == nil {
		return nil, fmt.Errorf("%w: nil Manager", ErrInvalidArgument)
	}
	setDefault(&o.MaxBody, DefaultSecretScanningMaxBody)
	setDefault(&o.MaxMatches, DefaultSecretScanningMaxMatches)
	if o.MaxBody < 0 || o.MaxMatches < 0 {
		return nil, fmt.Errorf("%w: negative MaxBody or MaxMatches", ErrInvalidArgument)
	}
	h := &SecretScanningHandler{m: m, opts: o}
	if err := h.SetKeys(o.Keys); err != nil {
		return nil, err
	}
	h.opts.Keys = nil
	return h, nil
}

// SetKeys replaces the trusted keys, for example after fetching the
// scanner's key document again because a request named an unknown key.
// Requests in flight finish with the keys they started with. An empty set
// is ErrInvalidArgument.
func (h *SecretScanningHandler) SetKeys(keys SecretScanningKeys) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no secret-scanning keys", ErrInvalidArgument)
	}
	c := make(SecretScanningKeys, len(keys))
	for id, k := range keys {
		if k == nil || k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: secret-scanning key %q is not ECDSA P-256", ErrInvalidArgument, id)
		}
		c[id] = k
	}
	h.keys.Store(&c)
	return nil
}

var (
	errScanTooLarge = errors.New("apitoken: secret-scanning request too large")
	errScanBody     = errors.New("apitoken: secret-scanning body is not a JSON array of matches")
)

// ServeHTTP answers one alert.
func (h *SecretScanningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeScanError(w, http.StatusMethodNotAllowed, CodeInvalidRequest, "use POST")
		return
	}
	body, err := readBounded(r.Body, r.ContentLength, h.opts.MaxBody)
	if err != nil {
		if errors.Is(err, errScanTooLarge) {
			writeScanError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("body over %d bytes", h.opts.MaxBody))
		} else {
			writeScanError(w, http.StatusBadRequest, CodeInvalidRequest, "body could not be read")
		}
		return
	}
	if !h.verifySignature(r.Header, body) {
		writeScanError(w, http.StatusUnauthorized, CodeInvalidSignature, "missing or invalid signature")
		return
	}
	matches, err := parseScanMatches(body, h.opts.MaxMatches)
	switch {
	case errors.Is(err, errScanTooLarge):
		writeScanError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("more than %d matches", h.opts.MaxMatches))
		return
	case err != nil:
		writeScanError(w, http.StatusBadRequest, CodeInvalidRequest, "body is not a JSON array of matches")
		return
	}
	feedback, err := h.revoke(r.Context(), matches)
	if err != nil {
		writeScanError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(feedback)
}

// readBounded reads a body of at most max bytes; a longer one (declared or
// read) is errScanTooLarge.
func readBounded(body io.Reader, declared, max int64) ([]byte, error) {
	if declared > max {
		return nil, errScanTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, errScanTooLarge
	}
	return b, nil
}

// verifySignature checks the signature headers against body.
func (h *SecretScanningHandler) verifySignature(hdr http.Header, body []byte) bool {
	id, sig64 := hdr.Get(SecretScanningKeyIDHeader), hdr.Get(SecretScanningSignatureHeader)
	if id == "" || sig64 == "" || len(sig64) > maxSignatureHeader {
		return false
	}
	pub := (*h.keys.Load())[id]
	if pub == nil {
		return false
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return false
	}
	digest := sha256.Sum256(body)
	return ecdsa.VerifyASN1(pub, digest[:], sig)
}

// parseScanMatches parses a body of matches: one JSON array of objects,
// at most max of them, nothing after it. Unknown fields are ignored.
func parseScanMatches(body []byte, max int) ([]SecretScanningMatch, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, errScanBody
	}
	var out []SecretScanningMatch
	for dec.More() {
		if len(out) == max {
			return nil, errScanTooLarge
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errScanBody
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' {
			return nil, errScanBody // null, numbers, strings, arrays
		}
		var m SecretScanningMatch
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, errScanBody
		}
		out = append(out, m)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, errScanBody
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errScanBody // trailing data
	}
	return out, nil
}

// revoke revokes each match's token by possession and returns the
// feedback, in the order of matches.
func (h *SecretScanningHandler) revoke(ctx context.Context, matches []SecretScanningMatch) ([]SecretScanningFeedback, error) {
	out := make([]SecretScanningFeedback, len(matches))
	seen := make(map[string]bool, len(matches))
	for i, mt := range matches {
		f := SecretScanningFeedback{TokenType: mt.Type, Label: LabelFalsePositive}
		if h.opts.FeedbackHash {
			sum := sha256.Sum256([]byte(mt.Token))
			f.TokenHash = hex.EncodeToString(sum[:])
		} else {
			f.TokenRaw = mt.Token
		}
		e := Event{Type: EventLeakReported, URL: h.scrub(mt.URL, maxScanURL), Source: h.scrub(mt.Source, maxScanSource)}
		switch {
		case len(mt.Token) > MaxTokenLength:
			e.Err = ErrMalformed
		case seen[mt.Token]:
			e.Err = ErrRevoked // this request revoked it, or found it revoked
		default:
			seen[mt.Token] = true
			t, wrote, err := h.m.revokeSecret(ctx, mt.Token)
			if t != nil {
				e.TokenID, e.Account, e.UserID = t.ID, t.Account, t.UserID
			}
			switch {
			case errors.Is(err, ErrMalformed):
				e.Err = ErrMalformed
			case err != nil:
				e.Err = err
				h.m.emit(e)
				return nil, err
			case wrote:
				f.Label = LabelTruePositive
			case t != nil:
				e.Err = ErrRevoked
			default:
				e.Err = ErrUnknown
			}
		}
		h.m.emit(e)
		out[i] = f
	}
	return out, nil
}

// scrub bounds s to max bytes of valid UTF-8 and redacts anything shaped
// like a token of the Manager's Format.
func (h *SecretScanningHandler) scrub(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return h.m.format.redact(s, "[token]")
}

// writeScanError writes the library's JSON failure body, without the
// Bearer challenge WriteError adds to a 401: the scanner signs, it holds no
// token.
func writeScanError(w http.ResponseWriter, status int, code, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	var body ErrorBody
	body.Error.Code, body.Error.Message = code, msg
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
