// Package secretscanning receives a secret scanner's leak alerts (GitHub's
// secret-scanning partner protocol) and revokes the reported tokens by
// possession, through Manager.ReportLeak.
//
// A scanner that finds tokens matching apitoken's token pattern in public
// code POSTs them, as a JSON array of {"token", "type", "url", "source"},
// signed with ECDSA P-256 and SHA-256 over the raw body. The signature
// travels base64-encoded (ASN.1 DER) in SignatureHeader, and KeyIDHeader
// names the signing key among those the scanner publishes. The answer is
// a JSON array of feedback: {"token_raw", "token_type", "label"} with
// label "true_positive" or "false_positive".
package secretscanning

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
	"sync/atomic"

	"github.com/apitoken/apitoken"
)

// The protocol's headers and labels, and this package's defaults and
// error codes.
const (
	// KeyIDHeader names the key that signed the body.
	KeyIDHeader = "Github-Public-Key-Identifier"
	// SignatureHeader carries the signature of the body.
	SignatureHeader = "Github-Public-Key-Signature"

	// LabelTruePositive labels a reported token that was live and is now
	// revoked.
	LabelTruePositive = "true_positive"
	// LabelFalsePositive labels any other reported string.
	LabelFalsePositive = "false_positive"

	// DefaultMaxBody is Options.MaxBody's default, in bytes.
	DefaultMaxBody = 1 << 20
	// DefaultMaxMatches is Options.MaxMatches's default.
	DefaultMaxMatches = 1000

	// CodeInvalidSignature is the code of a request whose signature is
	// missing, malformed, by an unknown key or wrong (401).
	CodeInvalidSignature = "invalid_signature"
	// CodePayloadTooLarge is the code of a request whose body or match
	// count is over its bound (413).
	CodePayloadTooLarge = "payload_too_large"

	// maxSignatureHeader bounds the signature header: a P-256 DER
	// signature is at most 72 bytes, 96 in base64.
	maxSignatureHeader = 256
)

// Keys are the public keys a Handler trusts, by key identifier. Every key
// must be ECDSA on P-256.
type Keys map[string]*ecdsa.PublicKey

// keyDoc is the shape of the scanner's published key document.
type keyDoc struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// ParseKeys parses the key document a scanner publishes (for
// GitHub, the JSON at api.github.com/meta/public_keys/secret_scanning):
//
//	{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----\n...", "is_current": true}]}
//
// Every listed key is trusted, current or not: a body signed just before a
// rotation still verifies. Keys that are not ECDSA P-256, empty or repeated
// identifiers, and a document without keys are apitoken.ErrInvalidArgument.
func ParseKeys(doc []byte) (Keys, error) {
	var d keyDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("%w: secret-scanning key document: %v", apitoken.ErrInvalidArgument, err)
	}
	keys := make(Keys, len(d.PublicKeys))
	for i, k := range d.PublicKeys {
		if k.KeyIdentifier == "" {
			return nil, fmt.Errorf("%w: secret-scanning key %d has no key_identifier", apitoken.ErrInvalidArgument, i)
		}
		if _, dup := keys[k.KeyIdentifier]; dup {
			return nil, fmt.Errorf("%w: secret-scanning key_identifier %q listed twice", apitoken.ErrInvalidArgument, k.KeyIdentifier)
		}
		pub, err := parseP256PublicKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: secret-scanning key %q: %v", apitoken.ErrInvalidArgument, k.KeyIdentifier, err)
		}
		keys[k.KeyIdentifier] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: secret-scanning key document lists no keys", apitoken.ErrInvalidArgument)
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

// Options configures a Handler.
type Options struct {
	// Keys are the trusted signing keys (see ParseKeys). Required.
	Keys Keys
	// MaxBody bounds the request body in bytes; a larger one is refused
	// with 413 before its signature is checked. Default
	// DefaultMaxBody (1 MiB).
	MaxBody int64
	// MaxMatches bounds the matches of one request; more are refused with
	// 413 and none is acted on. Default DefaultMaxMatches.
	MaxMatches int
	// FeedbackHash answers each match with token_hash (hex SHA-256 of the
	// token, which the protocol also accepts) instead of echoing the
	// token as token_raw, so no secret is in the response. Default false:
	// token_raw.
	FeedbackHash bool
}

// Match is one reported match: the token found, the token
// type the scanner registered, and where it was found.
type Match struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Feedback is the answer about one match. Exactly one of TokenRaw and
// TokenHash is set.
type Feedback struct {
	TokenRaw  string `json:"token_raw,omitempty"`
	TokenHash string `json:"token_hash,omitempty"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// Handler receives a secret scanner's leak alerts and revokes
// the reported tokens by possession. Mount it on the route registered with
// the scanner (POST only); it needs no other credential than the body's
// signature.
//
// It refuses an oversized body (413), then a missing, malformed or wrong
// signature or an unknown key identifier (401, nothing parsed), then a body
// that is not a JSON array of matches (400) or holds more than MaxMatches
// (413, nothing revoked). Each match's token is handed to
// Manager.ReportLeak: one that was a token of this Manager not yet
// revoked is revoked before the answer and labelled true_positive;
// anything else (malformed, unknown, already revoked, repeated in the
// request) is false_positive, writes no record and costs what
// RevokeSecret's other cases cost. The label is all the answer says: it
// does not tell unknown from revoked, nor name an account or token ID. A
// store failure is a 500 without detail, which the scanner retries.
//
// Every match emits event.LeakReported (see Manager.ReportLeak)
// with its URL and Source. The token itself is never in an event.
//
// The signature covers the body only, and the protocol carries no nonce:
// a body replayed with its own valid signature verifies again, and is
// harmless, since every token in it is then already revoked (false_positive,
// no write). Any other signature (another body's, another key's, an
// altered one) is refused.
type Handler struct {
	m    *apitoken.Manager
	opts Options
	keys atomic.Pointer[Keys]
}

// NewHandler returns a handler that revokes through m. Options without
// keys are apitoken.ErrInvalidArgument.
func NewHandler(m *apitoken.Manager, opts *Options) (*Handler, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if m == nil {
		return nil, fmt.Errorf("%w: nil Manager", apitoken.ErrInvalidArgument)
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxMatches == 0 {
		o.MaxMatches = DefaultMaxMatches
	}
	if o.MaxBody < 0 || o.MaxMatches < 0 {
		return nil, fmt.Errorf("%w: negative MaxBody or MaxMatches", apitoken.ErrInvalidArgument)
	}
	h := &Handler{m: m, opts: o}
	if err := h.SetKeys(o.Keys); err != nil {
		return nil, err
	}
	h.opts.Keys = nil
	return h, nil
}

// SetKeys replaces the trusted keys, for example after fetching the
// scanner's key document again because a request named an unknown key.
// Requests in flight finish with the keys they started with. An empty set
// is apitoken.ErrInvalidArgument.
func (h *Handler) SetKeys(keys Keys) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: no secret-scanning keys", apitoken.ErrInvalidArgument)
	}
	c := make(Keys, len(keys))
	for id, k := range keys {
		if k == nil || k.Curve != elliptic.P256() {
			return fmt.Errorf("%w: secret-scanning key %q is not ECDSA P-256", apitoken.ErrInvalidArgument, id)
		}
		c[id] = k
	}
	h.keys.Store(&c)
	return nil
}

var (
	errScanTooLarge = errors.New("secretscanning: request too large")
	errScanBody     = errors.New("secretscanning: body is not a JSON array of matches")
)

// ServeHTTP answers one alert.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeScanError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	body, err := readBounded(r.Body, r.ContentLength, h.opts.MaxBody)
	if err != nil {
		if errors.Is(err, errScanTooLarge) {
			writeScanError(w, http.StatusRequestEntityTooLarge, CodePayloadTooLarge, fmt.Sprintf("body over %d bytes", h.opts.MaxBody))
		} else {
			writeScanError(w, http.StatusBadRequest, "invalid_request", "body could not be read")
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
		writeScanError(w, http.StatusBadRequest, "invalid_request", "body is not a JSON array of matches")
		return
	}
	feedback, err := h.revoke(r.Context(), matches)
	if err != nil {
		writeScanError(w, http.StatusInternalServerError, "internal_error", "internal error")
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
func (h *Handler) verifySignature(hdr http.Header, body []byte) bool {
	id, sig64 := hdr.Get(KeyIDHeader), hdr.Get(SignatureHeader)
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
func parseScanMatches(body []byte, max int) ([]Match, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, errScanBody
	}
	var out []Match
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
		var m Match
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

// revoke reports each match's token to the Manager, which revokes it by
// possession, and returns the feedback, in the order of matches.
func (h *Handler) revoke(ctx context.Context, matches []Match) ([]Feedback, error) {
	out := make([]Feedback, len(matches))
	for i, mt := range matches {
		f := Feedback{TokenType: mt.Type, Label: LabelFalsePositive}
		if h.opts.FeedbackHash {
			sum := sha256.Sum256([]byte(mt.Token))
			f.TokenHash = hex.EncodeToString(sum[:])
		} else {
			f.TokenRaw = mt.Token
		}
		revoked, err := h.m.ReportLeak(ctx, mt.Token, mt.URL, mt.Source)
		if err != nil {
			return nil, err
		}
		if revoked {
			f.Label = LabelTruePositive
		}
		out[i] = f
	}
	return out, nil
}

// writeScanError writes the library's JSON failure body, without the
// Bearer challenge HTTPError.Write adds to a 401: the scanner signs, it holds no
// token.
func writeScanError(w http.ResponseWriter, status int, code, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = code, msg
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
