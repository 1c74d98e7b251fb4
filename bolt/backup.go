package bolt

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole file to w while the store
// stays in use, and returns how many bytes it wrote. The copy is taken in
// one read transaction (bbolt's Tx.WriteTo): it holds every write
// committed before Backup began and none committed after; writers go on
// meanwhile (the file grows instead of reusing the pages the backup still
// reads). The copy is a bolt file that Open reads as it is. It holds token
// hashes, never secrets; keep the hash key out of the same backup.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		return err
	})
	return n, err
}

// BackupFile is Backup to a new file at path (mode 0600), written under a
// temporary name in the same directory, synced, then renamed into place,
// so that path holds either a whole copy or nothing. An existing file at
// path is replaced.
func (s *Store) BackupFile(ctx context.Context, path string) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("bolt: backup: %w", err)
	}
	tmp := f.Name()
	n, err := s.Backup(ctx, f)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("bolt: backup to %s: %w", path, err)
	}
	return n, nil
}

// ctxWriter stops a backup when its context ends.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
