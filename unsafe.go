package apitoken

import "unsafe"

// unsafeBytes views s as a byte slice without copying. The result must not
// be written to; it is used only to feed read-only hash functions so that
// verification does not allocate.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
