package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Subscribe implements apitoken.ChangeFeed. Managers call it in
// apitoken.New; hosts rarely need to.
func (s *Store) Subscribe(fn func(apitoken.Change)) (cancel func()) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	id := s.nextID
	s.nextID++
	s.subs[id] = fn
	if !s.feedUp {
		fn(apitoken.Change{Kind: apitoken.ChangeFeedDown})
	}
	return func() {
		s.feedMu.Lock()
		defer s.feedMu.Unlock()
		delete(s.subs, id)
	}
}

// FeedUp reports whether the store is listening for changes now.
func (s *Store) FeedUp() bool {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	return s.feedUp
}

// publish calls every subscriber with c, one at a time.
func (s *Store) publish(c apitoken.Change) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	switch c.Kind {
	case apitoken.ChangeFeedDown:
		if !s.feedUp {
			return
		}
		s.feedUp = false
	case apitoken.ChangeFeedUp:
		if s.feedUp {
			return
		}
		s.feedUp = true
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
	return conn, nil
}

// listen delivers notifications until ctx ends. When the connection fails
// (or a heartbeat ping does) it reports ChangeFeedDown, reconnects with
// growing delays and reports ChangeFeedUp once it listens again.
func (s *Store) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(s.done)
	delay := 50 * time.Millisecond
	for {
		if conn != nil {
			s.publish(apitoken.Change{Kind: apitoken.ChangeFeedUp})
			delay = 50 * time.Millisecond
			s.receive(ctx, conn)
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
			conn = nil
		}
		if ctx.Err() != nil {
			return
		}
		s.publish(apitoken.Change{Kind: apitoken.ChangeFeedDown})
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

// receive hands notifications to subscribers until the connection fails or
// ctx ends, pinging it after every Heartbeat of silence.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn) {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.opts.Heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, s.opts.Heartbeat)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case err != nil:
			return
		default:
			c, ok := parseChange(n.Payload)
			if !ok {
				// Not ours or unreadable: empty the caches rather than
				// guess which record it meant.
				s.publish(apitoken.Change{Kind: apitoken.ChangeFeedDown})
				s.publish(apitoken.Change{Kind: apitoken.ChangeFeedUp})
				continue
			}
			s.publish(c)
		}
	}
}
