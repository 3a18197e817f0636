package proxy

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// backendUpCollector answers, at each scrape, whether the writer and every
// reader accept a TCP connection: the signal an alert on an unreachable
// backend needs, with one reader or several.
type backendUpCollector struct{ s *Server }

var descBackendUp = prometheus.NewDesc("fwdproxy_backend_up",
	"1 when the backend accepts a TCP connection at scrape time", []string{"role", "addr"}, nil)

// backendUpTimeout bounds each dial, so a scrape of a silent backend ends.
const backendUpTimeout = time.Second

func (c backendUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descBackendUp }

func (c backendUpCollector) Collect(ch chan<- prometheus.Metric) {
	type target struct{ role, addr string }
	targets := []target{{"writer", c.s.writerAddr()}}
	for _, a := range c.s.conf().ReaderAddrs() {
		targets = append(targets, target{"reader", a})
	}
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up := 0.0
			if t.addr != "" && reachable(t.addr, backendUpTimeout) == nil {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descBackendUp, prometheus.GaugeValue, up, t.role, t.addr)
		}()
	}
	wg.Wait()
}
