package bolt

import (
	"fmt"
	"os"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// TestBucketStats is a diagnostic, run by hand: it prints per-bucket space
// use of the 100k-token benchmark fixture.
func TestBucketStats(t *testing.T) {
	if os.Getenv("APITOKEN_BOLT_STATS") == "" {
		t.Skip("set APITOKEN_BOLT_STATS=1 to print bucket statistics")
	}
	b := &testing.B{}
	f := loadFixture(b, 100_000)
	s, err := Open(f.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			st := tx.Bucket(name).Stats()
			fmt.Printf("%-18s keys=%7d leafAlloc=%9d leafInuse=%9d branchAlloc=%8d fill=%.0f%%\n", name, st.KeyN, st.LeafAlloc, st.LeafInuse, st.BranchAlloc,
				100*float64(st.LeafInuse)/float64(max(st.LeafAlloc, 1)))
		}
		fmt.Println("record bytes:", len(tx.Bucket(bucketTokens).Get(f.hashes[0][:])), "file:", tx.Size())
		return nil
	})
}
