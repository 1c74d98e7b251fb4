package apitoken

import (
	"bytes"
	"testing"

	"github.com/apitoken/apitoken/internal/tokenhash"
)

// Moving a stored hash between keys without the token gives what hashing
// the token under the new key gives, for tokens with and without an issue
// time; a token without one keeps a varying head.
func TestRekeyEqualsHashingUnderTheNewKey(t *testing.T) {
	k1 := ringKey{id: 1, perm: tokenhash.NewPermutation(bytes.Repeat([]byte{1}, 32))}
	k2 := ringKey{id: 2, perm: tokenhash.NewPermutation(bytes.Repeat([]byte{2}, 32))}
	for i, issued := range []int64{noIssueTime, 0x0123_4567_89ab, 1} {
		digest := cacheKey(string(rune('a' + i)))
		h1, h2 := k1.permuted(digest, issued), k2.permuted(digest, issued)
		if got := rekey(h1, &k1, &k2); got != h2 {
			t.Fatalf("issued %d: rekey gives %v, hashing under key 2 gives %v", issued, got, h2)
		}
		if got := rekey(h2, &k2, &k1); got != h1 {
			t.Fatalf("issued %d: rekey back gives %v, want %v", issued, got, h1)
		}
		if issued == noIssueTime && !bytes.Equal(h1[:issueTimeLen], h1[issueTimeLen:2*issueTimeLen]) {
			t.Fatalf("a token without an issue time has head % x", h1[:issueTimeLen])
		}
	}
}
