package bolt

import (
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// A write that grows the file must not wait for open read transactions
// (a remap waits for all of them, and verifications queue behind it).
// Here a read transaction stays open while a write grows the file by
// 40 MB; with bbolt's default mapping (32 KB, doubling) that commit
// would remap and so wait for the reader, which waits for the write.
func TestGrowingTheFileDoesNotWaitForReaders(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "grow.db"), &Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reader, err := s.db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 4096)
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("growth"))
		if err != nil {
			return err
		}
		for i := range 10_000 {
			if err := b.Put([]byte{byte(i >> 8), byte(i)}, value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Rollback(); err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bbolt.Tx) error {
		if n := tx.Bucket([]byte("growth")).Stats().KeyN; n != 10_000 {
			t.Errorf("%d records after the write, want 10,000", n)
		}
		return nil
	})
}
