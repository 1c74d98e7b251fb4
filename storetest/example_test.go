package storetest_test

import (
	"context"
	"fmt"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// A store of your own is checked in two test functions of its package:
//
//	func newStore(tb testing.TB) apitoken.Store { return mystore.Open(tb.TempDir()) }
//
//	func TestStore(t *testing.T)     { storetest.Run(t, newStore) }               // the Store contract
//	func TestLifecycle(t *testing.T) { storetest.RunLifecycle(t, newStore, nil) } // every rule over it
//
// Here a store that wraps another (Counting, which counts calls) runs under
// a Manager: a hot token costs it no read.
func Example_customStore() {
	ctx := context.Background()
	s := storetest.NewCounting(memstore.New())
	m, _ := apitoken.New(s, &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()
	iss, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.ReadOnly})

	m.Verify(ctx, iss.Secret, "") // first use: reads it, records the application
	m.Verify(ctx, iss.Secret, "") // reads it once more, and caches it
	before := s.Reads()
	for range 1000 {
		m.Verify(ctx, iss.Secret, "")
	}
	fmt.Println("store reads for 1,000 hot verifications:", s.Reads()-before)
	// Output: store reads for 1,000 hot verifications: 0
}
