package lint

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/fwdproxy/fwdproxy/sqlclass"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// The corpus: one application written as a SQL file with DELIMITER blocks,
// MySQL and MariaDB general logs with interleaved connections, and slow
// logs of both servers. Together they hold every statement kind the
// write-forwarding contract lists.
var corpus = []struct {
	file   string
	format Format
}{
	{"app.sql", SQL},
	{"general-mysql.log", GeneralLog},
	{"general-mariadb.log", GeneralLog},
	{"slow-mysql.log", SlowLog},
	{"slow-mariadb.log", SlowLog},
}

var corpusLevels = []struct {
	name  string
	level Level
}{
	{"session", Session},
	{"eventual", Eventual},
	{"off", Off},
}

// TestCorpusGolden compares the full text output for each input and level
// with testdata/golden/FILE.LEVEL.golden (go test ./lint -update rewrites them).
func TestCorpusGolden(t *testing.T) {
	for _, c := range corpus {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(data); got != c.format {
			t.Errorf("%s: Detect = %v, want %v", c.file, got, c.format)
		}
		for _, lv := range corpusLevels {
			var out bytes.Buffer
			err := Run(c.file, bytes.NewReader(data), Config{Consistency: lv.level}, func(f Finding) {
				out.WriteString(f.Text())
				out.WriteByte('\n')
			})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", c.file+"."+lv.name+".golden")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./lint -update writes it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("%s at %s differs from %s:\n%s", c.file, lv.name, golden, lineDiff(string(want), out.String()))
			}
		}
	}
}

var wantMark = regexp.MustCompile(`-- want: ([^)]*)`)

// TestCorpusAnnotations checks, independently of the golden files, the
// findings the corpus marks with "-- want: CODE | warning CATEGORY, …" on
// the line where a statement starts: at SESSION every finding is marked and
// every mark is found.
func TestCorpusAnnotations(t *testing.T) {
	for _, c := range corpus {
		data, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		want := map[int][]string{}
		for i, line := range strings.Split(string(data), "\n") {
			if m := wantMark.FindStringSubmatch(line); m != nil {
				for _, w := range strings.Split(m[1], ",") {
					want[i+1] = append(want[i+1], strings.TrimSpace(w))
				}
			}
		}
		got := map[int][]string{}
		fs, err := Lint(c.file, bytes.NewReader(data), Config{Consistency: Session})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			k := strconv.Itoa(f.Code)
			if f.Severity == SeverityWarning {
				k = "warning " + f.Operation
			}
			got[f.Line] = append(got[f.Line], k)
		}
		lines := map[int]bool{}
		for n := range want {
			lines[n] = true
		}
		for n := range got {
			lines[n] = true
		}
		var ns []int
		for n := range lines {
			ns = append(ns, n)
		}
		sort.Ints(ns)
		for _, n := range ns {
			g, w := got[n], want[n]
			sort.Strings(g)
			sort.Strings(w)
			if strings.Join(g, ", ") != strings.Join(w, ", ") {
				t.Errorf("%s:%d: got %q, want %q", c.file, n, g, w)
			}
		}
	}
}

// TestCorpusSize: at least 200 statements, and every class sqlclass has
// (but Empty, which never reaches a session) appears in the corpus.
func TestCorpusSize(t *testing.T) {
	total := 0
	classes := map[sqlclass.Class]int{}
	for _, c := range corpus {
		f, err := os.Open(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		l, err := run(c.file, f, Config{Consistency: Session}, func(Finding) {})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for k, n := range l.classes {
			classes[k] += n
			total += n
		}
	}
	if total < 200 {
		t.Errorf("corpus has %d statements, want at least 200", total)
	}
	for k := sqlclass.Unknown; k < sqlclass.Empty; k++ {
		if classes[k] == 0 {
			t.Errorf("no %v statement in the corpus", k)
		}
	}
	t.Logf("%d statements: %v", total, classes)
}

// lineDiff lists the lines only in want (-) or only in got (+).
func lineDiff(want, got string) string {
	in := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := in(want), in(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] == 0 {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(got, "\n") {
		if w[l] == 0 {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
