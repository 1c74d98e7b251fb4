package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
)

// errBody is a request body problem: its text is shown to the client.
type errBody struct {
	status int
	code   string
	msg    string
}

func (e *errBody) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &errBody{http.StatusBadRequest, "invalid_request", fmt.Sprintf(format, args...)}
}

// maxStringField bounds every string in a request body; fields with
// tighter limits (descriptions, names) are checked again by the library.
const maxStringField = 1024

// decodeBody reads a JSON object into v strictly: the body must fit in
// max bytes (413 otherwise, chunked or not); it must be one object whose
// keys are exactly v's JSON field names (no unknown, duplicate or
// case-variant keys); values must have the right types and no string may
// exceed maxStringField bytes; nothing may follow the object. An empty body
// is an empty object.
func decodeBody(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if r.ContentLength > max {
		return &errBody{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", max)}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &errBody{http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", max)}
	}
	if err != nil {
		return badRequest("reading the request body failed")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := checkShape(raw, fieldNames(v), listFields(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return badRequest("field %q must be %s", te.Field, jsonKind(te.Type))
		case errors.Is(err, apitoken.ErrInvalidArgument):
			return badRequest("%s", strings.TrimPrefix(err.Error(), "apitoken: invalid argument: "))
		}
		return badRequest("invalid JSON: %v", err)
	}
	return nil
}

// checkShape walks the tokens of one JSON object and refuses anything but a
// flat object with known, unique, exact-case keys and bounded strings,
// followed by nothing; the fields in lists may also be a flat array of at
// most maxListField bounded strings. It never recurses, so nesting depth
// costs nothing.
func checkShape(raw []byte, allowed, lists map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return badRequest("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return badRequest("the body must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("invalid JSON: %v", err)
		}
		key := tok.(string)
		switch {
		case !allowed[key]:
			return badRequest("unknown field %q", truncate(key))
		case seen[key]:
			return badRequest("duplicate field %q", key)
		}
		seen[key] = true
		tok, err = dec.Token()
		if err != nil {
			return badRequest("invalid JSON: %v", err)
		}
		switch t := tok.(type) {
		case json.Delim:
			if t != '[' || !lists[key] {
				return badRequest("field %q must not be an object or array", key)
			}
			if err := checkList(dec, key); err != nil {
				return err
			}
		case string:
			if len(t) > maxStringField {
				return badRequest("field %q is longer than %d bytes", key, maxStringField)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return badRequest("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("unexpected data after the JSON object")
	}
	return nil
}

// maxListField bounds the strings of a list field (scopes, allowedCidrs).
const maxListField = 64

// checkList reads the rest of a list field's array, after its '[': bounded
// strings only, at most maxListField of them.
func checkList(dec *json.Decoder, key string) error {
	for n := 0; ; n++ {
		tok, err := dec.Token()
		if err != nil {
			return badRequest("invalid JSON: %v", err)
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return nil
		}
		str, ok := tok.(string)
		if !ok {
			return badRequest("field %q must be a list of strings", key)
		}
		if len(str) > maxStringField {
			return badRequest("field %q holds a string longer than %d bytes", key, maxStringField)
		}
		if n >= maxListField {
			return badRequest("field %q holds more than %d strings", key, maxListField)
		}
	}
}

// listFields returns the JSON names of struct *v's fields that hold a
// list of strings.
func listFields(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	names := map[string]bool{}
	strs := reflect.TypeOf([]string(nil))
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type == strs || f.Type == reflect.PointerTo(strs) {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names[name] = true
		}
	}
	return names
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// fieldNames returns the JSON names of struct *v's fields.
func fieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names[name] = true
		}
	}
	return names
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	if t == reflect.TypeOf(time.Time{}) {
		return "an RFC 3339 time"
	}
	return "of type " + t.String()
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
