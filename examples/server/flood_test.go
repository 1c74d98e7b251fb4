package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken/storetest"
)

// loginSample is one timed login answer.
type loginSample struct {
	d      time.Duration
	status int
	retry  string
}

// timedLogin posts a login and times the whole answer. An error means no
// answer within the client's timeout.
func timedLogin(c *http.Client, url, name, password string) (loginSample, error) {
	body, _ := json.Marshal(map[string]any{"name": name, "password": password})
	start := time.Now()
	resp, err := c.Post(url+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return loginSample{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return loginSample{time.Since(start), resp.StatusCode, resp.Header.Get("Retry-After")}, nil
}

// percentiles returns the median and the 99th percentile (nearest rank).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2], s[(len(s)*99+99)/100-1]
}

// TestLoginFlood measures a real login before and during a flood of 40
// parallel unauthenticated logins (each a new unknown name, so no throttle
// applies and every one costs an argon2id run). It asserts behaviour only:
// every request is answered, the owner either logs in or is told busy, and
// busy answers carry Retry-After. The numbers are logged; run it with
// go test -run TestLoginFlood -v ./examples/server.
func TestLoginFlood(t *testing.T) {
	ts := startServer(t, t.TempDir())
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const flooders = 40
	rounds := 40
	if !storetest.Long() {
		rounds = 10
	}
	var okDs, busyDs []time.Duration // during the flood, by answer
	sample := func(n int) (ds []time.Duration, ok, busy int) {
		for range n {
			s, err := timedLogin(c, ts.srv.URL, "admin@example.com", adminPassword)
			require.NoError(t, err, "an owner login went unanswered")
			switch s.status {
			case http.StatusOK:
				ok++
				okDs = append(okDs, s.d)
			case http.StatusServiceUnavailable:
				busy++
				busyDs = append(busyDs, s.d)
				assert.Equal(t, "1", s.retry, "a busy answer without Retry-After")
			default:
				t.Fatalf("owner login during the flood: status %d", s.status)
			}
			ds = append(ds, s.d)
		}
		return ds, ok, busy
	}
	before, _, _ := sample(rounds)
	okDs = nil

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var floodOK, floodBusy, floodBusyBare, floodOther, floodLost atomic.Int64
	var floodMax atomic.Int64
	for i := range flooders {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				s, err := timedLogin(c, ts.srv.URL, fmt.Sprintf("flood%d-%d@example.com", i, n), "not the password")
				if err != nil {
					floodLost.Add(1)
					continue
				}
				switch s.status {
				case http.StatusUnauthorized:
					floodOK.Add(1)
				case http.StatusServiceUnavailable:
					floodBusy.Add(1)
					if s.retry != "1" {
						floodBusyBare.Add(1)
					}
				default:
					floodOther.Add(1)
				}
				if int64(s.d) > floodMax.Load() {
					floodMax.Store(int64(s.d))
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // let the flood fill the queue
	during, ok, busy := sample(rounds)
	close(stop)
	wg.Wait()

	b50, b99 := percentiles(before)
	d50, d99 := percentiles(during)
	t.Logf("owner login before the flood: median %v, p99 %v (%d logins)", b50.Round(time.Millisecond), b99.Round(time.Millisecond), len(before))
	t.Logf("owner login during a %d-way flood: median %v, p99 %v; %d ok, %d busy (busy rate %.0f%%)",
		flooders, d50.Round(time.Millisecond), d99.Round(time.Millisecond), ok, busy, 100*float64(busy)/float64(len(during)))
	for _, g := range []struct {
		what string
		ds   []time.Duration
	}{{"logged in", okDs}, {"busy", busyDs}} {
		if len(g.ds) > 0 {
			p50, _ := percentiles(g.ds)
			t.Logf("  owner answers %s during the flood: median %v, slowest %v", g.what, p50.Round(time.Millisecond), slices.Max(g.ds).Round(time.Millisecond))
		}
	}
	t.Logf("flood requests: %d hashed (401), %d busy (503), %d other; slowest answer %v",
		floodOK.Load(), floodBusy.Load(), floodOther.Load(), time.Duration(floodMax.Load()).Round(time.Millisecond))
	assert.Zero(t, floodLost.Load(), "flood logins went unanswered")
	assert.Zero(t, floodOther.Load(), "flood logins answered with something other than 401 or 503")
	assert.Zero(t, floodBusyBare.Load(), "busy answers without Retry-After")
}
