package fakebackend

// A script says what the server answers to each statement: the answers
// queued for one statement text are given in order and the last one
// repeats, as doctor's Replay does with recorded answers.

// Result is one result of an answer: OK, Err, Rows or Progress. An answer of several
// results is sent as a multi-result response (MORE_RESULTS on all but the
// last), as a stored procedure's CALL returns it.
type Result interface{ result() }

// OK is an OK packet. GTID, when set, travels in the session-state block
// as the tracked variable last_gtid, the way MariaDB reports a commit to a
// connection that negotiated CLIENT_SESSION_TRACK.
type OK struct {
	AffectedRows uint64
	InsertID     uint64
	Warnings     uint16
	Info         string
	GTID         string
}

// Err is an ERR packet. An empty State is HY000.
type Err struct {
	Code    uint16
	State   string
	Message string
}

// Rows is a result set. A nil value is SQL NULL; any other is sent as
// its fmt.Sprint text, in a VAR_STRING column.
type Rows struct {
	Columns []string
	Values  [][]any
}

// Hangup closes the connection instead of answering: the server went away
// in the middle of the statement.
type Hangup struct{}

// LocalInfile asks the client for a file, as LOAD DATA LOCAL INFILE does,
// and records what it sent as an InfileData command. The next result
// answers the statement.
type LocalInfile struct{ Name string }

// Progress is a MariaDB progress report (an ERR header with error code
// 0xFFFF), sent, as MariaDB sends it, only to a connection that asked for
// MARIADB_CLIENT_PROGRESS; the next result answers the statement.
type Progress struct {
	Stage, MaxStage uint8
	Done            uint32 // of the stage, in thousandths of a percent (0 to 100000)
	State           string // the thread's state, as SHOW PROCESSLIST says it
}

func (OK) result()          {}
func (Progress) result()    {}
func (Err) result()         {}
func (Rows) result()        {}
func (Hangup) result()      {}
func (LocalInfile) result() {}

// answer is one queued response to a statement.
type answer []Result

// first is the answer's first result that is not a progress report.
func (a answer) first() Result {
	for _, r := range a {
		if _, ok := r.(Progress); !ok {
			return r
		}
	}
	return OK{}
}

// moreAfter: a result other than a progress report follows a[i].
func (a answer) moreAfter(i int) bool {
	for _, r := range a[i+1:] {
		if _, ok := r.(Progress); !ok {
			return true
		}
	}
	return false
}

// rule answers the statements that start with prefix.
type rule struct {
	prefix  string
	answers []answer
}

// next pops an answer from a queue, keeping the last one.
func next(q *[]answer) answer {
	a := (*q)[0]
	if len(*q) > 1 {
		*q = (*q)[1:]
	}
	return a
}

// peek is the answer next would give, without taking it.
func peek(q []answer) answer {
	if len(q) == 0 {
		return nil
	}
	return q[0]
}
