package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/apitoken/apitoken/changefeed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Subscribe implements changefeed.Feed. Managers call it in
// apitoken.New; hosts rarely need to.
func (s *Store) Subscribe(fn func(changefeed.Change)) (cancel func()) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	id := s.nextID
	s.nextID++
	s.subs[id] = fn
	if !s.feedUp {
		fn(changefeed.Change{Kind: changefeed.Down})
	}
	return func() {
		s.feedMu.Lock()
		defer s.feedMu.Unlock()
		delete(s.subs, id)
	}
}

// FeedUp reports whether the change feed is up now: whether the listening
// connection has heard, within the last two Heartbeats, a heartbeat this
// store sent through its pool.
func (s *Store) FeedUp() bool {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	return s.feedUp
}

// publish calls every subscriber with c, one at a time.
func (s *Store) publish(c changefeed.Change) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	switch c.Kind {
	case changefeed.Down:
		if !s.feedUp {
			return
		}
		s.feedUp = false
	case changefeed.Up:
		if s.feedUp {
			return
		}
		s.feedUp = true
		s.firstUpOnce.Do(func() { close(s.firstUp) })
	}
	for _, fn := range s.subs {
		fn(c)
	}
}

// listenConn opens a dedicated connection (outside the pool) and LISTENs on
// the store's channel. Its context handling only sets deadlines, so the
// heartbeat's timeouts never send cancel requests to the server.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.listenCfg.Copy()
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(s.channel)); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	s.listening.Store(time.Now().UnixNano())
	return conn, nil
}

// listen delivers notifications until ctx ends. Whenever the listening
// connection fails or stops hearing the store's own heartbeats it reports
// changefeed.Down and reconnects with growing delays; receive reports
// ChangeFeedUp once a new connection hears a heartbeat again.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	defer s.beats.Wait() // no heartbeat may outlive the pool
	delay := 50 * time.Millisecond
	for {
		if conn != nil {
			if s.receive(ctx, conn) {
				delay = 50 * time.Millisecond
			}
			if ctx.Err() == nil {
				// Before closing, which may itself take a while on a
				// broken network.
				s.publish(changefeed.Change{Kind: changefeed.Down})
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
			conn = nil
		}
		if ctx.Err() != nil {
			return
		}
		s.publish(changefeed.Change{Kind: changefeed.Down})
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, s.opts.ReconnectDelay)
		dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := s.listenConn(dialCtx)
		cancel()
		if err == nil {
			conn = c
		}
	}
}

// receive hands notifications to subscribers until the connection fails,
// ctx ends, or two Heartbeats pass without the connection hearing one of
// the store's own heartbeats. Every Heartbeat, starting at once, it sends
// a heartbeat through the pool (the path writes and their NOTIFYs take);
// hearing it on conn proves that conn listens on the channel the writes
// announce on, in the same database, and that every change committed
// before it was sent has been delivered. Only that proof reports
// ChangeFeedUp: a connection that merely answers (a listener on another
// database, say) never does. It returns whether conn ever heard one.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) (proven bool) {
	hb := s.opts.Heartbeat
	type beat struct {
		seq  uint64
		sent time.Time
	}
	var pending []beat  // sent on this connection, not yet heard
	heard := time.Now() // when the latest heard heartbeat was sent; a new connection gets two Heartbeats of grace
	var next time.Time  // when to send the next heartbeat; zero: now
	for {
		now := time.Now()
		if !now.Before(next) {
			seq := s.beatSeq.Add(1)
			pending = append(pending, beat{seq, now})
			s.sendHeartbeat(ctx, seq)
			next = now.Add(hb)
		}
		deadline := heard.Add(2 * hb)
		if !now.Before(deadline) {
			return proven // not hearing itself: the caller reports the feed down
		}
		if next.Before(deadline) {
			deadline = next
		}
		wctx, cancel := context.WithDeadline(ctx, deadline.Add(time.Millisecond))
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return proven
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			continue
		case err != nil:
			return proven
		}
		if nonce, seq, ok := parseHeartbeat(n.Payload); ok {
			if nonce != s.nonce {
				continue // another instance's heartbeat: no change to anything
			}
			for i, b := range pending {
				if b.seq == seq {
					heard = b.sent
					pending = pending[i+1:]
					s.heartbeatsHeard.Add(1)
					if !proven {
						proven = true
						s.publish(changefeed.Change{Kind: changefeed.Up})
					}
					break
				}
			}
			continue
		}
		c, ok := parseChange(n.Payload)
		if !ok {
			// Not ours or unreadable: empty the caches rather than guess
			// which record it meant. (While the feed is down the caches
			// keep records only briefly anyway, and it must stay down.)
			if proven {
				s.publish(changefeed.Change{Kind: changefeed.Down})
				s.publish(changefeed.Change{Kind: changefeed.Up})
			}
			continue
		}
		s.publish(c)
	}
}

// sendHeartbeat sends heartbeat seq through the pool without waiting for
// it. One not sent within two Heartbeats could no longer keep the feed up,
// so it is given up; its absence on the listening connection marks the
// feed down.
func (s *Store) sendHeartbeat(ctx context.Context, seq uint64) {
	s.beats.Add(1)
	go func() {
		defer s.beats.Done()
		bctx, cancel := context.WithTimeout(ctx, 2*s.opts.Heartbeat)
		defer cancel()
		s.pool.Exec(bctx, `SELECT pg_notify($1, $2)`, s.channel, heartbeatPayload(s.nonce, seq))
	}()
}
