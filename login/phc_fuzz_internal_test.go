package login

import "testing"

// FuzzParsePHC feeds arbitrary stored password hashes to the PHC parser: no
// panic, and nothing accepted outside the bounds that keep a login cheap.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")      // valid
	f.Add("$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA") // huge memory
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")                            // wrong variant
	f.Add("$argon2id$v=19$m=19456,t=2$c2FsdA$aGFzaA")                               // missing lane count
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		if h.params.MemoryKiB > maxArgonMemory || h.params.Time > maxArgonTime || h.params.Threads == 0 || len(h.salt) < 8 || len(h.key) < 16 {
			t.Fatalf("accepted out-of-bounds parameters %+v", h.params)
		}
	})
}
