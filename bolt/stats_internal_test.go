package bolt

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
)

// TestBucketStats is a diagnostic, run by hand: it prints per-bucket space
// use of the benchmark fixture (APITOKEN_BOLT_STATS tokens, e.g. 100000).
func TestBucketStats(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("APITOKEN_BOLT_STATS"))
	if n <= 0 {
		t.Skip("set APITOKEN_BOLT_STATS to a token count to print bucket statistics")
	}
	b := &testing.B{}
	f := loadFixture(b, n)
	s, err := Open(f.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	print := func(when string) {
		fmt.Println("#", when)
		s.db.View(func(tx *bbolt.Tx) error {
			for _, name := range allBuckets {
				st := tx.Bucket(name).Stats()
				fmt.Printf("%-18s keys=%7d leafAlloc=%9d leafInuse=%9d branchAlloc=%8d fill=%.0f%%\n", name, st.KeyN, st.LeafAlloc, st.LeafInuse, st.BranchAlloc,
					100*float64(st.LeafInuse)/float64(max(st.LeafAlloc, 1)))
			}
			st := tx.Stats()
			fmt.Println("record bytes:", len(tx.Bucket(bucketTokens).Get(f.hashes[0][:])), "file:", tx.Size(), "pages:", st.PageCount, "free pages:", s.db.Stats().FreePageN, "per token:", tx.Size()/int64(n))
			return nil
		})
	}
	print("as issued")
	if os.Getenv("APITOKEN_BOLT_STATS_TOUCH") == "" {
		return
	}
	// Every token used once, flushed 10,000 at a time as Manager.Flush
	// would: each record grows by its LastUsed time.
	ids := make([]string, 0, n)
	s.db.View(func(tx *bbolt.Tx) error {
		return bucket(tx, bucketTokenIDs).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil })
	})
	at := time.Now()
	for start := 0; start < len(ids); start += 10_000 {
		batch := make([]apitoken.Touch, 0, 10_000)
		for _, id := range ids[start:min(start+10_000, len(ids))] {
			batch = append(batch, apitoken.Touch{ID: id, At: at})
		}
		if err := s.TouchTokens(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	print("after every token's first use (APITOKEN_BOLT_STATS_TOUCH)")
}
