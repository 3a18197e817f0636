package readers

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/fwdproxy/fwdproxy/integration/pair"
)

// lagLinks puts a replication link with a fixed latency between the writer and each replica
// (lags[i] for thePair.Replicas[i]; the replica's master becomes the link), as integration/lag
// does for one: replicas of different lags without MASTER_DELAY's whole seconds. The cleanup
// points every replica at the writer again and waits until it has caught up.
func lagLinks(t testing.TB, lags ...time.Duration) {
	t.Helper()
	tox := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	for i, lag := range lags {
		rep := thePair.Replicas[i]
		l := toxiproxy.NewProxy(tox, "replication-"+rep.Name, "127.0.0.1:0", thePair.WriterAddr)
		must(t, l.Start())
		t.Cleanup(l.Stop)
		if lag > 0 { // fixed for the link's life: toxiproxy's own latency toxic is not changed later
			_, err := l.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(
				`{"name":"lag","type":"latency","stream":"downstream","toxicity":1,"attributes":{"latency":%d}}`, lag.Milliseconds())))
			must(t, err)
		}
		t.Cleanup(func() {
			host, port := hostPort(t, thePair.WriterAddr)
			if err := thePair.SetMasterOf(rep, host, port); err != nil {
				t.Errorf("%s back on the writer: %v", rep.Name, err)
			}
		})
		host, port := hostPort(t, l.Listen)
		must(t, thePair.SetMasterOf(rep, host, port))
	}
	t.Cleanup(func() { // runs first: the replicas caught up while the links still stand
		ctx, cancel := context.WithTimeout(context.Background(), pair.DefaultWaitTimeout)
		defer cancel()
		if err := thePair.WaitReplicated(ctx); err != nil {
			t.Error(err)
		}
	})
}

func hostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	h, ps, err := net.SplitHostPort(addr)
	must(t, err)
	port, err := strconv.Atoi(ps)
	must(t, err)
	return h, port
}
