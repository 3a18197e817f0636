package doctor

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Querier runs one statement and returns its whole result. The checks see
// servers only through it, so that each check can be tested with results
// recorded from real servers (see Recorder and Replay).
type Querier interface {
	Query(ctx context.Context, query string) (*Rows, error)
}

// Rows is a complete result set in text form; a nil value is SQL NULL.
// Statements without a result set (SET) give no columns and no rows.
type Rows struct {
	Columns []string    `json:"columns,omitempty"`
	Values  [][]*string `json:"rows,omitempty"`
}

// Maps returns each row as column name -> value ("" for NULL; every column is present).
func (r *Rows) Maps() []map[string]string {
	if r == nil {
		return nil
	}
	out := make([]map[string]string, 0, len(r.Values))
	for _, row := range r.Values {
		m := make(map[string]string, len(r.Columns))
		for i, c := range r.Columns {
			m[c] = ""
			if i < len(row) && row[i] != nil {
				m[c] = *row[i]
			}
		}
		out = append(out, m)
	}
	return out
}

// Strings returns the first column of every row.
func (r *Rows) Strings() []string {
	if r == nil {
		return nil
	}
	out := make([]string, 0, len(r.Values))
	for _, row := range r.Values {
		if len(row) > 0 && row[0] != nil {
			out = append(out, *row[0])
		}
	}
	return out
}

// sqlQuerier runs statements on one database/sql connection, so that
// session settings made by one check are seen by the next.
type sqlQuerier struct{ c *sql.Conn }

func (q sqlQuerier) Query(ctx context.Context, query string) (*Rows, error) {
	rows, err := q.c.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	res := &Rows{Columns: cols}
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]*string, len(cols))
		for i, v := range vals {
			if v.Valid {
				s := v.String
				row[i] = &s
			}
		}
		res.Values = append(res.Values, row)
	}
	return res, rows.Err()
}

// Connect opens one connection to addr (HOST:PORT, or a Unix socket path) as
// user with go-sql-driver and returns a Querier on it and the function that
// closes it.
func Connect(ctx context.Context, addr, user, password string, timeout time.Duration) (Querier, func() error, error) {
	cfg := mysql.NewConfig()
	cfg.Net = "tcp"
	if strings.Contains(addr, "/") {
		cfg.Net = "unix"
	}
	cfg.Addr = addr
	cfg.User = user
	cfg.Passwd = password
	cfg.Timeout = timeout
	cfg.ReadTimeout = timeout
	cfg.WriteTimeout = timeout
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := db.Conn(cctx)
	if err == nil {
		err = c.PingContext(cctx)
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return sqlQuerier{c}, func() error { c.Close(); return db.Close() }, nil
}

// Exchange is one recorded statement and what the server answered.
type Exchange struct {
	Query string     `json:"query"`
	Rows  *Rows      `json:"result,omitempty"`
	Error *ErrRecord `json:"error,omitempty"`
}

// ErrRecord is a recorded error: a server error (Number > 0) or any other.
type ErrRecord struct {
	Number   uint16 `json:"number,omitempty"`
	SQLState string `json:"sqlstate,omitempty"`
	Message  string `json:"message"`
}

func recordErr(err error) *ErrRecord {
	if err == nil {
		return nil
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return &ErrRecord{Number: me.Number, SQLState: string(me.SQLState[:]), Message: me.Message}
	}
	return &ErrRecord{Message: err.Error()}
}

func (e *ErrRecord) err() error {
	if e == nil {
		return nil
	}
	if e.Number != 0 {
		me := &mysql.MySQLError{Number: e.Number, Message: e.Message}
		copy(me.SQLState[:], e.SQLState)
		return me
	}
	return errors.New(e.Message)
}

// Recorder passes statements to Q and keeps every exchange.
type Recorder struct {
	Q Querier

	mu  sync.Mutex
	Log []Exchange
}

func (r *Recorder) Query(ctx context.Context, query string) (*Rows, error) {
	rows, err := r.Q.Query(ctx, query)
	r.mu.Lock()
	r.Log = append(r.Log, Exchange{Query: query, Rows: rows, Error: recordErr(err)})
	r.mu.Unlock()
	return rows, err
}

// Replay answers statements from a recording: each query gets the recorded
// answers to the same text in order; an unrecorded query is an error.
type Replay struct {
	mu   sync.Mutex
	next map[string][]Exchange
}

// NewReplay builds a Replay from recorded exchanges.
func NewReplay(log []Exchange) *Replay {
	r := &Replay{next: map[string][]Exchange{}}
	for _, e := range log {
		r.next[e.Query] = append(r.next[e.Query], e)
	}
	return r
}

func (r *Replay) Query(_ context.Context, query string) (*Rows, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.next[query]
	if len(q) == 0 {
		return nil, fmt.Errorf("replay: no recorded answer for %q", query)
	}
	e := q[0]
	if len(q) > 1 {
		r.next[query] = q[1:]
	}
	return e.Rows, e.Error.err()
}

// Recording is one doctor run's traffic with both servers, as stored in
// testdata: the servers' answers, never edited by hand.
type Recording struct {
	Comment             string     `json:"comment,omitempty"`
	WriterAddr          string     `json:"writer_addr"`
	ReaderAddr          string     `json:"reader_addr"`
	User                string     `json:"user"`
	Writer              []Exchange `json:"writer,omitempty"`
	Replica             []Exchange `json:"replica,omitempty"`
	WriterConnectError  *ErrRecord `json:"writer_connect_error,omitempty"`
	ReplicaConnectError *ErrRecord `json:"replica_connect_error,omitempty"`
}

// LoadRecording reads a Recording from a JSON file.
func LoadRecording(path string) (*Recording, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec Recording
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rec, nil
}

// Save writes the recording as indented JSON.
func (rec *Recording) Save(path string) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
