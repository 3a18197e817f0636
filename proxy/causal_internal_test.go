package proxy

import (
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

func TestTrackingList(t *testing.T) {
	for _, c := range []struct {
		sql         string
		track, sets bool
		relay       string // the assignments the servers see
	}{
		{"SET autocommit = 1", false, false, "autocommit = 1"},
		{"SET session_track_system_variables = 'autocommit'", false, true, "session_track_system_variables = 'autocommit'"},
		{"SET session_track_system_variables = '*'", true, true, "session_track_system_variables = '*'"},
		{"SET session_track_system_variables = 'autocommit,fwdproxy_causal_token'", true, true, "SESSION session_track_system_variables = 'autocommit'"},
		{"SET @@session.session_track_system_variables = 'FWDPROXY_CAUSAL_TOKEN', sql_mode = ''", true, true, "SESSION session_track_system_variables = '', sql_mode = ''"},
		{"SET session_track_system_variables = DEFAULT", false, true, "session_track_system_variables = DEFAULT"},
		{"SET GLOBAL session_track_system_variables = '*'", false, false, "GLOBAL session_track_system_variables = '*'"},
	} {
		st := sqlclass.Classify(c.sql, sqlclass.Options{})
		before := st.Assignments[0].Text
		out, track, sets := trackingList(&st)
		var texts []string
		for _, a := range out.Assignments {
			texts = append(texts, a.Text)
		}
		if track != c.track || sets != c.sets || strings.Join(texts, ", ") != c.relay {
			t.Errorf("%s: track %v sets %v relay %q, want %v %v %q", c.sql, track, sets, strings.Join(texts, ", "), c.track, c.sets, c.relay)
		}
		if st.Assignments[0].Text != before {
			t.Errorf("%s: the classified statement changed", c.sql)
		}
	}
}
