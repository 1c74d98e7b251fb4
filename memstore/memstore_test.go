package memstore_test

import (
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

func newStore(tb testing.TB) apitoken.Store {
	s := memstore.New()
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) { storetest.Run(t, newStore) }

func BenchmarkStore(b *testing.B) { storetest.Benchmark(b, newStore) }

func TestLifecycle(t *testing.T) { storetest.RunLifecycle(t, newStore, nil) }
