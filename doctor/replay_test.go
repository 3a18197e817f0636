package doctor

import (
	"path/filepath"
	"testing"
)

// TestReplay runs every check on the traffic TestLive recorded from real MariaDB
// servers (testdata/mariadb-*.json) and holds the reports to the same expectations.
func TestReplay(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, err := LoadRecording(filepath.Join("testdata", "mariadb-"+c.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, c, replay(t, rec, c.opt))
		})
	}
}
