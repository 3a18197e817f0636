package consistency

import "testing"

func TestStray(t *testing.T) {
	const (
		u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562" // the writer
		u2 = "4e11fa47-71ca-11e1-9e33-c80aa9429562" // the replica
	)
	for _, c := range []struct {
		flavor              Flavor
		replica, id, writer string
		want                string
		wantErr             bool
	}{
		// MariaDB: the replica applied the writer's 0-1-100 and committed 0-2-101 itself.
		{MariaDB, "0-1-100", "2", "0-1-100", "", false},
		{MariaDB, "0-1-100,0-2-101", "2", "0-1-100", "0-2-101", false},
		{MariaDB, "0-1-100,0-2-101", "2", "0-1-102", "0-2-101", false},
		// After a switchover the old writer is a replica; the new writer has its GTIDs.
		{MariaDB, "0-1-200,0-2-150", "2", "0-2-150,0-1-201", "", false},
		{MariaDB, "0-1-200,0-2-151", "2", "0-2-150,0-1-201", "0-2-151", false},
		// Another domain, and a replica with no binlog.
		{MariaDB, "0-1-5,1-2-3", "2", "0-1-5", "1-2-3", false},
		{MariaDB, "", "2", "0-1-5", "", false},
		{MariaDB, "0-1-x", "2", "", "", true},
		{MariaDB, "0-1-1", "two", "", "", true},
		// MySQL: the replica's own uuid, with and without a tag.
		{MySQL, u1 + ":1-10", u2, u1 + ":1-10", "", false},
		{MySQL, u1 + ":1-10," + u2 + ":1", u2, u1 + ":1-12", u2 + ":1", false},
		{MySQL, u1 + ":1-10," + u2 + ":1-3", u2, u1 + ":1-12," + u2 + ":1-3", "", false},
		{MySQL, u1 + ":1-10," + u2 + ":tag:1", u2, u1 + ":1-10", u2 + ":tag:1", false},
		{MySQL, u1 + ":1", "nope", u1 + ":1", "", true},
	} {
		got, err := c.flavor.Stray(c.replica, c.id, c.writer)
		if got != c.want || (err != nil) != c.wantErr {
			t.Errorf("%s Stray(%q, %q, %q) = %q, %v; want %q (error %v)", c.flavor.Name(), c.replica, c.id, c.writer, got, err, c.want, c.wantErr)
		}
	}
}
