package proxy

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// The proxy never writes a reader, but anyone with the replica's address
// and SUPER can; one such write stops GTID-strict replication at the
// writer's next commit. strayWatch looks for a reader's own GTIDs every
// strayEvery and exports what it finds, for an alert.
type strayWatch struct {
	mu    sync.Mutex
	found map[string]string // reader address -> its stray GTIDs ("" none); absent until checked
}

const strayEvery = 10 * time.Second

var descStray = prometheus.NewDesc("fwdproxy_reader_stray_gtids",
	"1 when the reader has GTIDs of its own that the writer lacks: a write reached the replica directly", []string{"reader"}, nil)

func (w *strayWatch) Describe(ch chan<- *prometheus.Desc) { ch <- descStray }

func (w *strayWatch) Collect(ch chan<- prometheus.Metric) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for addr, gtids := range w.found {
		v := 0.0
		if gtids != "" {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descStray, prometheus.GaugeValue, v, addr)
	}
}

// strayLoop checks every reader until the server closes.
func (s *Server) strayLoop(every time.Duration) {
	for !s.closed.Load() {
		s.checkStray()
		for t := time.Duration(0); t < every && !s.closed.Load(); t += 100 * time.Millisecond {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// checkStray reads every reader's GTID state, then the writer's once: the
// writer has by then everything the readers applied from it.
func (s *Server) checkStray() {
	user, pass := s.proxyUser()
	ask := func(role, addr string) ([]sqlValue, error) {
		c, err := dialBackend(context.Background(), role, dialParams{addr: addr, user: user, password: pass, tls: s.conf().BackendTLS, timeout: 2 * time.Second})
		if err != nil {
			return nil, err
		}
		defer c.close()
		res, err := c.exec(s.flavor.StraySQL())
		if err != nil || len(res.rows) == 0 || len(res.rows[0]) < 2 {
			return nil, err
		}
		return res.rows[0], nil
	}
	readers := map[string][]sqlValue{}
	for _, addr := range s.conf().ReaderAddrs() {
		if r, err := ask("reader", addr); r != nil {
			readers[addr] = r
		} else {
			s.log.Debug("stray GTID check: reader", zap.String("reader", addr), zap.Error(err))
		}
	}
	if len(readers) == 0 {
		return
	}
	w, err := ask("writer", s.writerAddr())
	if w == nil {
		s.log.Debug("stray GTID check: writer", zap.Error(err))
		return
	}
	for addr, r := range readers {
		gtids, err := s.flavor.Stray(r[0].s, r[1].s, w[0].s)
		if err != nil {
			s.log.Debug("stray GTID check", zap.String("reader", addr), zap.Error(err))
			continue
		}
		s.stray.mu.Lock()
		before, seen := s.stray.found[addr]
		s.stray.found[addr] = gtids
		s.stray.mu.Unlock()
		if gtids != "" && (gtids != before || !seen) {
			s.log.Error("a reader has GTIDs of its own: a write reached the replica directly; GTID-strict replication stops at the writer's next commit in that domain",
				zap.String("reader", addr), zap.String("gtids", gtids))
		}
	}
}
