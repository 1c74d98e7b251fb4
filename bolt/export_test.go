package bolt

import (
	"encoding/binary"

	bbolt "go.etcd.io/bbolt"
)

// SetFailCommit makes every later write transaction fail just before
// commit with the error f returns (nil f: stop failing).
func SetFailCommit(s *Store, f func() error) { s.failCommit = f }

// SetSchemaVersion overwrites the stored schema version.
func SetSchemaVersion(t interface{ Fatal(...any) }, s *Store, v uint64) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.AppendUvarint(nil, v))
	})
	if err != nil {
		t.Fatal(err)
	}
}
