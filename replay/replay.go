// Package replay plays a capture (package capture) again through a running
// fwdproxy: each captured session on a connection of its own, all at once,
// its commands in their order and at their captured times (scaled by a
// speed), and reports what came out differently: errors by code and
// statement digest, results that differ from the capture's (rows returned,
// affected rows, error codes), and latency per digest against the capture.
// It connects to the one target address it is given and nothing else.
package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/fwdproxy/fwdproxy/capture"
	"github.com/fwdproxy/fwdproxy/sqlclass"
)

// Options say where and how to replay.
type Options struct {
	Target string // the fwdproxy to replay through, HOST:PORT
	// Users are the passwords to log in with, by user name; a session of a
	// user not in it logs in as DefaultUser.
	Users       map[string]string
	DefaultUser string
	// Speed scales the captured times: 2 replays twice as fast; 0 sends
	// each command as soon as the one before it ended.
	Speed float64
	// Consistency, when set, is the aurora_replica_read_consistency every
	// replayed session sets first (EVENTUAL, SESSION or GLOBAL).
	Consistency string
}

// session is one captured session's records.
type session struct {
	id   uint32
	recs []capture.Record
}

// Run replays recs and reports. It returns an error only when it could not
// replay at all; a session that fails is in the report.
func Run(ctx context.Context, recs []capture.Record, opt Options) (*Report, error) {
	if opt.Target == "" {
		return nil, errors.New("replay: no target")
	}
	if _, ok := opt.Users[opt.DefaultUser]; !ok {
		return nil, fmt.Errorf("replay: no password for the default user %q", opt.DefaultUser)
	}
	sessions, base := bySession(recs)
	rep := newReport()
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		go func(s *session) {
			defer wg.Done()
			p := &player{opt: opt, rep: rep, start: start, base: base, stmts: map[uint32]uint32{}}
			p.play(ctx, s)
		}(s)
	}
	wg.Wait()
	rep.finish(len(sessions), time.Since(start))
	return rep, nil
}

// bySession groups the records of each session, in their order, and
// returns the earliest time, from which the replay's clock runs.
func bySession(recs []capture.Record) ([]*session, int64) {
	m := map[uint32]*session{}
	var order []*session
	base := int64(-1)
	for _, r := range recs {
		if r.Kind == capture.Stopped {
			continue
		}
		s := m[r.Session]
		if s == nil {
			s = &session{id: r.Session}
			m[r.Session] = s
			order = append(order, s)
		}
		s.recs = append(s.recs, r)
		if base < 0 || r.AtUS < base {
			base = r.AtUS
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].recs[0].AtUS < order[j].recs[0].AtUS })
	return order, max(base, 0)
}

// player replays one session.
type player struct {
	opt   Options
	rep   *Report
	start time.Time
	base  int64
	conn  *client.Conn
	stmts map[uint32]uint32 // captured statement id -> replayed one
}

// wait sleeps until the captured time at (µs) on the replay's clock.
func (p *player) wait(ctx context.Context, at int64) {
	if p.opt.Speed <= 0 {
		return
	}
	due := p.start.Add(time.Duration(float64(at-p.base)/p.opt.Speed) * time.Microsecond)
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

func (p *player) play(ctx context.Context, s *session) {
	defer func() {
		if p.conn != nil {
			_ = p.conn.Close()
		}
	}()
	for _, r := range s.recs {
		if ctx.Err() != nil {
			return
		}
		p.wait(ctx, r.AtUS)
		switch r.Kind {
		case capture.Connect:
			if err := p.connect(r); err != nil {
				p.rep.failed(s.id, "connect: "+err.Error())
				return
			}
		case capture.Disconnect:
			if p.conn != nil {
				_ = p.conn.Quit()
				p.conn = nil
			}
		case capture.Command:
			if p.conn == nil {
				p.rep.skip("no connect record (the capture began after the session)")
				continue
			}
			if err := p.command(r); err != nil {
				p.rep.failed(s.id, fmt.Sprintf("%s %q: %v", r.Name, shorten(r.SQL), err))
				return
			}
		}
	}
}

// replayCaps are the capability flags a replayed session takes from its
// captured one: they change what statements may be sent and what results
// say (FOUND_ROWS: matched, not changed, rows).
const replayCaps = mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS

func (p *player) connect(r capture.Record) error {
	user := r.User
	pass, ok := p.opt.Users[user]
	if !ok {
		user, pass = p.opt.DefaultUser, p.opt.Users[p.opt.DefaultUser]
	}
	program := r.Program
	if program == "" {
		program = "fwdproxy-replay"
	}
	setup := func(c *client.Conn) error {
		// The proxy speaks neither; without them every packet has the
		// shape the capture's parser reads.
		c.UnsetCapability(mysql.CLIENT_QUERY_ATTRIBUTES)
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF)
		for bit := uint32(1); bit != 0; bit <<= 1 {
			if replayCaps&bit != 0 {
				if r.Caps&bit != 0 {
					_ = c.SetCapability(bit)
				} else {
					c.UnsetCapability(bit)
				}
			}
		}
		c.SetAttributes(map[string]string{"program_name": program})
		return nil
	}
	c, err := client.ConnectWithTimeout(p.opt.Target, user, pass, r.DB, 10*time.Second, setup)
	if err != nil {
		return err
	}
	p.conn = c
	if p.opt.Consistency != "" {
		if _, err := c.Execute("SET aurora_replica_read_consistency = '" + p.opt.Consistency + "'"); err != nil {
			return fmt.Errorf("SET aurora_replica_read_consistency: %w", err)
		}
	}
	return nil
}

// command replays one command and compares what it got with the capture.
func (p *player) command(r capture.Record) error {
	data, why := p.packet(r)
	if why != "" {
		p.rep.skip(why)
		return nil
	}
	began := time.Now()
	res, err := p.exchange(data)
	if err != nil {
		return err
	}
	res.DurUS = time.Since(began).Microseconds()
	if data[0] == 0x16 && res.Error == 0 && r.Result != nil {
		p.stmts[r.Result.Stmt] = res.Stmt
	}
	if data[0] == 0x19 {
		delete(p.stmts, r.Stmt)
	}
	p.rep.add(r, res)
	return nil
}

// packet is the command to send for r, or why it is not replayed.
func (p *player) packet(r capture.Record) ([]byte, string) {
	switch r.Name {
	case "query", "prepare":
		if r.Redacted {
			return nil, "holds a password (redacted in the capture)"
		}
		cmd := byte(0x03)
		if r.Name == "prepare" {
			cmd = 0x16
		}
		return append([]byte{cmd}, r.SQL...), ""
	case "init_db":
		return append([]byte{0x02}, r.SQL...), ""
	case "ping":
		return []byte{0x0e}, ""
	case "reset_connection":
		p.stmts = map[uint32]uint32{}
		return []byte{0x1f}, ""
	case "set_option":
		return r.Packet, ""
	case "close_stmt", "reset_stmt":
		id, ok := p.stmts[r.Stmt]
		if !ok {
			return nil, "names a statement the replay did not prepare"
		}
		cmd := byte(0x19)
		if r.Name == "reset_stmt" {
			cmd = 0x1a
		}
		return binary.LittleEndian.AppendUint32([]byte{cmd}, id), ""
	case "execute", "send_long_data", "fetch":
		if r.Redacted {
			return nil, "holds a password (redacted in the capture)"
		}
		id, ok := p.stmts[r.Stmt]
		if !ok || len(r.Packet) < 5 {
			return nil, "names a statement the replay did not prepare"
		}
		data := append([]byte(nil), r.Packet...)
		binary.LittleEndian.PutUint32(data[1:], id)
		return data, ""
	}
	return nil, r.Name + " is not replayed"
}

// exchange sends one command and reads its whole response.
func (p *player) exchange(data []byte) (capture.Result, error) {
	c := p.conn
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4, 4+len(data)), data...)); err != nil {
		return capture.Result{}, err
	}
	resp := capture.NewResponse(data[0], false, false)
	for !resp.Done() {
		pkt, err := c.ReadPacket()
		if err != nil {
			return resp.Result, err
		}
		if len(pkt) > 0 && pkt[0] == 0xfb && data[0] == 0x03 {
			// LOCAL INFILE: the replay has no files; an empty one.
			if err := c.WritePacket(make([]byte, 4)); err != nil {
				return resp.Result, err
			}
		}
		resp.Packet(pkt, len(pkt))
	}
	return resp.Result, nil
}

func shorten(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// digestOf is the statement digest a command counts under.
func digestOf(r capture.Record) string {
	if r.SQL == "" || r.Name == "init_db" {
		return r.Name
	}
	return sqlclass.Digest(r.SQL, sqlclass.Options{})
}
