package login

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHashSlotsBoundTheQueue(t *testing.T) {
	ctx := context.Background()
	s := newHashSlots(1, 1, 50*time.Millisecond)
	if err := s.acquireLogin(ctx); err != nil {
		t.Fatalf("the free slot: %v", err)
	}
	waited := make(chan error)
	go func() { waited <- s.acquireLogin(ctx) }()
	// Wait until the second login holds the one waiting place.
	for len(s.admit) < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := s.acquireLogin(ctx); !errors.Is(err, ErrBusy) || time.Since(start) > 20*time.Millisecond {
		t.Fatalf("a login past the queue: %v after %v, want ErrBusy at once", err, time.Since(start))
	}
	if err := <-waited; !errors.Is(err, ErrBusy) || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("the waiting login: %v after %v, want ErrBusy after about 50 ms", err, time.Since(start))
	}
	if len(s.admit) != 1 {
		t.Fatalf("a timed-out waiter kept its place: %d admitted", len(s.admit))
	}
	// An authenticated hash (a new password) waits for a slot whatever
	// the login queue holds.
	got := make(chan error)
	go func() { got <- s.acquire(ctx) }()
	s.releaseLogin()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	s.release()
	// A cancelled waiter leaves the queue too.
	if err := s.acquireLogin(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { waited <- s.acquireLogin(cctx) }()
	for len(s.admit) < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled waiter: %v", err)
	}
	s.releaseLogin()
	if len(s.admit) != 0 || len(s.run) != 0 {
		t.Fatalf("slots leaked: %d admitted, %d running", len(s.admit), len(s.run))
	}
}

func TestNoQueueMeansBusyAtOnce(t *testing.T) {
	s := newHashSlots(1, -1, time.Hour)
	if err := s.acquireLogin(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.acquireLogin(context.Background()); !errors.Is(err, ErrBusy) {
		t.Fatalf("with no queue, the second login: %v", err)
	}
}
