package memstore_test

import (
	"testing"
	"time"

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

func TestStress(t *testing.T) { storetest.Stress(t, newStore, stressTime()) }

func stressTime() time.Duration {
	if !storetest.Long() {
		return time.Second
	}
	return 30 * time.Second
}
