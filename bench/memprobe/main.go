// Command memprobe measures the resident memory of a running fwdproxy for bench/run.sh.
//
//	memprobe stream -pid P -addr HOST:PORT -user U -password PW [-rows N] [-width W] [-poll 10ms]
//	    streams SELECT REPEAT('x', W) FROM seq_1_to_N through the proxy (text protocol, rows read
//	    and dropped as they arrive) while sampling VmRSS of P every poll interval.
//	memprobe idle -pid P -addr HOST:PORT -user U -password PW [-n 1000] [-parallel 32]
//	    opens N client sessions through the proxy, pings each once, leaves them idle, and compares
//	    VmRSS of P before and after.
//
// Results are printed as KEY=VALUE lines (sizes in kB) for the shell script to read.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: memprobe stream|idle [flags]")
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	pid := fs.Int("pid", 0, "fwdproxy process id")
	addr := fs.String("addr", "", "proxy HOST:PORT")
	user := fs.String("user", "fwd", "user")
	password := fs.String("password", "fwdpass", "password")
	db := fs.String("db", "", "default database")
	rows := fs.Int("rows", 100000, "stream: rows")
	width := fs.Int("width", 150, "stream: bytes per row")
	poll := fs.Duration("poll", 10*time.Millisecond, "stream: VmRSS sampling interval")
	n := fs.Int("n", 1000, "idle: sessions")
	parallel := fs.Int("parallel", 32, "idle: concurrent connection attempts")
	settle := fs.Duration("settle", 2*time.Second, "idle: wait before the after sample")
	count := fs.String("count", "", "idle: NAME=HOST:PORT,... servers whose Threads_connected to report")
	rootUser := fs.String("root-user", "root", "idle: user for -count")
	rootPassword := fs.String("root-password", "", "idle: password for -count")
	_ = fs.Parse(os.Args[2:])
	if *pid == 0 || *addr == "" {
		fatalf("-pid and -addr are required")
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = *user, *password, "tcp", *addr, *db
	cfg.Timeout = 10 * time.Second
	switch os.Args[1] {
	case "stream":
		stream(cfg, *pid, *rows, *width, *poll)
	case "idle":
		var backends []backendCount
		for _, kv := range strings.Split(*count, ",") {
			if name, a, ok := strings.Cut(kv, "="); ok {
				backends = append(backends, backendCount{name: name, addr: a})
			}
		}
		idle(cfg, *pid, *n, *parallel, *settle, backends, *rootUser, *rootPassword)
	default:
		fatalf("unknown mode %q", os.Args[1])
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "memprobe: "+format+"\n", args...)
	os.Exit(1)
}

// status reads KEY: N kB fields of /proc/PID/status.
func status(pid int, key string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		fatalf("%v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			v, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	fatalf("no %s in /proc/%d/status", key, pid)
	return 0
}

func stream(cfg *mysql.Config, pid, rows, width int, poll time.Duration) {
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		fatalf("%v", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	before := status(pid, "VmRSS")
	hwmBefore := status(pid, "VmHWM")

	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	done := make(chan struct{})
	samples := 0
	go func() {
		defer close(done)
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			if v := status(pid, "VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
			samples++
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()

	start := time.Now()
	q := fmt.Sprintf("SELECT REPEAT('x', %d) FROM seq_1_to_%d", width, rows)
	if cfg.DBName == "" {
		q = fmt.Sprintf("SELECT REPEAT('x', %d) FROM mysql.seq_1_to_%d", width, rows)
	}
	r, err := db.Query(q)
	if err != nil {
		fatalf("%s: %v", q, err)
	}
	var got, bytes int
	var b sql.RawBytes
	for r.Next() {
		if err := r.Scan(&b); err != nil {
			fatalf("scan: %v", err)
		}
		got++
		bytes += len(b)
	}
	if err := r.Err(); err != nil {
		fatalf("rows: %v", err)
	}
	r.Close()
	elapsed := time.Since(start)
	close(stop)
	<-done
	if got != rows {
		fatalf("got %d rows, want %d", got, rows)
	}
	// VmHWM (the kernel's high-water mark) catches a peak between two samples, when the
	// stream raised it above any earlier high.
	hwmAfter := status(pid, "VmHWM")
	if hwmAfter > hwmBefore && hwmAfter > peak.Load() {
		peak.Store(hwmAfter)
	}
	fmt.Printf("rows=%d\nbytes=%d\nseconds=%.3f\nsamples=%d\nrss_before_kb=%d\nrss_peak_kb=%d\nrss_growth_kb=%d\nrss_after_kb=%d\nhwm_before_kb=%d\nhwm_after_kb=%d\n",
		got, bytes, elapsed.Seconds(), samples, before, peak.Load(), peak.Load()-before, status(pid, "VmRSS"), hwmBefore, hwmAfter)
}

func idle(cfg *mysql.Config, pid, n, parallel int, settle time.Duration, backends []backendCount, rootUser, rootPassword string) {
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		fatalf("%v", err)
	}
	ctx := context.Background()
	// One session opened and closed first, so that one-time costs (TLS config, parser tables,
	// first goroutines) are not charged to the idle sessions.
	if c, err := connector.Connect(ctx); err != nil {
		fatalf("warm-up connect: %v", err)
	} else {
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	before := status(pid, "VmRSS")
	for i := range backends {
		backends[i].before = threadsConnected(backends[i].addr, rootUser, rootPassword)
	}

	conns := make([]driver.Conn, n)
	var firstErr error
	var errs atomic.Int64
	var mu sync.Mutex
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connector.Connect(ctx)
			if err == nil {
				err = c.(driver.Pinger).Ping(ctx)
			}
			if err != nil {
				errs.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if c != nil {
					c.Close()
				}
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	opened := time.Since(start)
	time.Sleep(settle)
	after := status(pid, "VmRSS")
	ok := n - int(errs.Load())
	fmt.Printf("sessions=%d\nfailed=%d\nopen_seconds=%.3f\nrss_before_kb=%d\nrss_after_kb=%d\n",
		ok, errs.Load(), opened.Seconds(), before, after)
	if ok > 0 {
		fmt.Printf("kb_per_session=%.1f\n", float64(after-before)/float64(ok))
	}
	if firstErr != nil {
		fmt.Printf("first_error=%q\n", firstErr.Error())
	}
	for _, nc := range countBackends(backends, rootUser, rootPassword) {
		fmt.Printf("%s_threads_before=%d\n%s_threads_held=%d\n", nc.name, nc.before, nc.name, nc.held)
	}
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	if errs.Load() > 0 {
		os.Exit(3)
	}
}

type backendCount struct {
	name, addr   string
	before, held int
}

// countBackends fills in held for each server.
func countBackends(bs []backendCount, user, password string) []backendCount {
	for i := range bs {
		bs[i].held = threadsConnected(bs[i].addr, user, password)
	}
	return bs
}

// threadsConnected is the server's Threads_connected, or -1 when it cannot be read.
func threadsConnected(addr, user, password string) int {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = user, password, "tcp", addr
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return -1
	}
	defer db.Close()
	var name string
	var v int
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Threads_connected'").Scan(&name, &v); err != nil {
		return -1
	}
	return v - 1 // not counting this connection
}
