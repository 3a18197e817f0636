// Package deploy holds the files docker-compose.yml mounts; this test checks them
// without Docker (the development machines have no Docker engine): the compose
// file's structure, the files it references, that the MySQL option files carry every
// setting `fwdproxy doctor` checks (by running the doctor's own checks on them), and
// that the fwdproxy service uses only real serve flags.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fwdproxy/fwdproxy/consistency"
	"github.com/fwdproxy/fwdproxy/doctor"
	"github.com/fwdproxy/fwdproxy/proxy"
)

const root = ".." // the repository, where docker-compose.yml lives

type compose struct {
	Name     string              `yaml:"name"`
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

type service struct {
	Image       string                `yaml:"image"`
	Build       *build                `yaml:"build"`
	Profiles    []string              `yaml:"profiles"`
	Command     []string              `yaml:"command"`
	Entrypoint  []string              `yaml:"entrypoint"`
	Environment map[string]string     `yaml:"environment"`
	Volumes     []string              `yaml:"volumes"`
	Ports       []string              `yaml:"ports"`
	DependsOn   map[string]dependency `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

type dependency struct {
	Condition string `yaml:"condition"`
}

func load(t *testing.T) (*compose, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key (depend_on, healthckeck) fails here
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c, data
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mounts returns the service's bind mounts, container path -> host path (relative to root).
func (s *service) mounts() map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			m[parts[1]] = parts[0]
		}
	}
	return m
}

// hostPath maps a path inside the container to the file on the host, through the mounts.
func (s *service) hostPath(p string) (string, bool) {
	for c, h := range s.mounts() {
		if p == c {
			return h, true
		}
		if rest, ok := strings.CutPrefix(p, c+"/"); ok {
			return filepath.Join(h, rest), true
		}
	}
	return "", false
}

func TestComposeStructure(t *testing.T) {
	c, data := load(t)
	if first, _, _ := strings.Cut(string(data), "\n"); !strings.Contains(first, "UNTESTED") {
		t.Errorf("docker-compose.yml must say in its first line that it is untested here; it says %q", first)
	}
	for _, name := range []string{"writer", "replica", "init", "fwdproxy", "lag", "lag-toxic", "lag-link"} {
		if c.Services[name] == nil {
			t.Fatalf("no service %s", name)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		for _, v := range s.Volumes {
			host, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(host, "./") {
				if _, err := os.Stat(filepath.Join(root, host)); err != nil {
					t.Errorf("%s: volume %s: %v", name, v, err)
				}
			} else if _, ok := c.Volumes[host]; !ok {
				t.Errorf("%s: named volume %s is not declared", name, host)
			}
		}
		for dep, d := range s.DependsOn {
			ds := c.Services[dep]
			if ds == nil {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case "service_started", "service_completed_successfully":
			case "service_healthy":
				if ds.Healthcheck == nil {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			default:
				t.Errorf("%s -> %s: condition %q", name, dep, d.Condition)
			}
			if len(ds.Profiles) > 0 && !slices.Equal(ds.Profiles, s.Profiles) {
				t.Errorf("%s depends on %s, which only runs in profiles %v", name, dep, ds.Profiles)
			}
		}
		for _, p := range s.Ports {
			if !regexp.MustCompile(`^(127\.0\.0\.1:)?\d+:\d+$`).MatchString(p) {
				t.Errorf("%s: port %q", name, p)
			}
		}
		// Files named on the command line must be mounted.
		for _, arg := range append(append([]string{}, s.Entrypoint...), s.Command...) {
			for _, p := range regexp.MustCompile(`(/(?:deploy|init|config)/[\w./-]+)`).FindAllString(arg, -1) {
				h, ok := s.hostPath(p)
				if !ok {
					t.Errorf("%s: %s is not mounted", name, p)
				} else if _, err := os.Stat(filepath.Join(root, h)); err != nil {
					t.Errorf("%s: %s: %v", name, p, err)
				}
			}
		}
	}
	for _, name := range []string{"writer", "replica"} {
		s := c.Services[name]
		if !strings.HasPrefix(s.Image, "mysql:8.0") {
			t.Errorf("%s: image %s, want mysql:8.0", name, s.Image)
		}
		if h, ok := s.hostPath("/etc/mysql/conf.d/fwdproxy.cnf"); !ok || h != "./deploy/mysql/"+name+".cnf" {
			t.Errorf("%s: deploy/mysql/%s.cnf must be mounted into /etc/mysql/conf.d", name, name)
		}
		if s.Healthcheck == nil || !strings.Contains(strings.Join(s.Healthcheck.Test, " "), "-h 127.0.0.1") {
			t.Errorf("%s: healthcheck must ping over TCP", name)
		}
	}
	// The init service runs the SQL files its script names, on the right servers.
	in := c.Services["init"]
	if in.Image != c.Services["writer"].Image || in.DependsOn["writer"].Condition != "service_healthy" || in.DependsOn["replica"].Condition != "service_healthy" {
		t.Errorf("init: want the writer's image, after writer and replica are healthy")
	}
	script, ok := in.hostPath(in.Entrypoint[len(in.Entrypoint)-1])
	if !ok {
		t.Fatalf("init: entrypoint %v is not mounted", in.Entrypoint)
	}
	body := read(t, script)
	for _, want := range []string{"-h writer", "-h replica", "</init/01-writer.sql", "</init/02-replica.sql", "WAIT_FOR_EXECUTED_GTID_SET"} {
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %q", script, want)
		}
	}
	for _, p := range regexp.MustCompile(`/init/[\w.-]+\.sql`).FindAllString(body, -1) {
		h, ok := in.hostPath(p)
		if !ok {
			t.Errorf("init: %s is not mounted", p)
		} else if _, err := os.Stat(filepath.Join(root, h)); err != nil {
			t.Error(err)
		}
	}
	f := c.Services["fwdproxy"]
	if f.Build == nil || f.Build.Context != "." {
		t.Fatal("fwdproxy: want build context .")
	}
	if _, err := os.Stat(filepath.Join(root, f.Build.Dockerfile)); err != nil {
		t.Error(err)
	}
	if f.DependsOn["init"].Condition != "service_completed_successfully" {
		t.Error("fwdproxy must start after init completed")
	}
	for _, p := range []string{"4000:4000", "4001:4001"} {
		if !slices.ContainsFunc(f.Ports, func(x string) bool { return strings.HasSuffix(x, ":"+p) || x == p }) {
			t.Errorf("fwdproxy does not publish %s", p)
		}
	}
	for _, name := range []string{"lag", "lag-toxic", "lag-link"} {
		if !slices.Equal(c.Services[name].Profiles, []string{"lag"}) {
			t.Errorf("%s must run only in profile lag", name)
		}
	}
}

// serveFlags are the flag names of fwdproxy serve: a row each of
// proxy.Settings, and --config.
func serveFlags(t *testing.T) []string {
	t.Helper()
	names := []string{"config"}
	for _, s := range proxy.Settings {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	return names
}

func TestFwdproxyCommand(t *testing.T) {
	flags := serveFlags(t)
	// The flags the issue lists; serve must still define them all.
	for _, f := range []string{"listen", "writer", "reader", "user", "admin", "forwarding", "default-consistency",
		"writer-idle-timeout", "writer-max-connections-pct", "read-wait-timeout", "read-wait-timeout-action",
		"config", "log-level", "log-format", "aurora-read-write-quirk"} {
		if !slices.Contains(flags, f) {
			t.Errorf("serve no longer defines --%s (found %v)", f, flags)
		}
	}
	c, _ := load(t)
	cmd := c.Services["fwdproxy"].Command
	if len(cmd) == 0 || cmd[0] != "serve" {
		t.Fatalf("fwdproxy command %v: want serve …", cmd)
	}
	vals := map[string]string{}
	for i := 1; i < len(cmd); i++ {
		name, ok := strings.CutPrefix(cmd[i], "--")
		if !ok {
			t.Fatalf("fwdproxy command: %q is not a flag", cmd[i])
		}
		v := ""
		if n, val, has := strings.Cut(name, "="); has {
			name, v = n, val
		} else if i+1 < len(cmd) {
			i++
			v = cmd[i]
		}
		if !slices.Contains(flags, name) {
			t.Errorf("fwdproxy command: --%s is not a serve flag (serve has %v)", name, flags)
		}
		vals[name] = v
	}
	want := map[string]string{"listen": "0.0.0.0:4000", "admin": "0.0.0.0:4001", "writer": "writer:3306", "reader": "replica:3306", "user": "app:apppass"}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("--%s %q, want %q", k, vals[k], v)
		}
	}
	// serve takes the command and the environment: an admin address beyond
	// loopback comes with its token.
	v := proxy.Values{}
	for name, text := range vals {
		v[name] = []string{text}
	}
	for _, s := range proxy.Settings {
		if text, ok := c.Services["fwdproxy"].Environment[s.Env()]; ok {
			if m := regexp.MustCompile(`^\$\{\w+:-(.*)\}$`).FindStringSubmatch(text); m != nil {
				text = m[1] // docker compose's ${VAR:-default}, VAR unset
			}
			v[s.Name] = []string{text}
		}
	}
	if _, err := proxy.ConfigFrom(v, nil); err != nil {
		t.Errorf("fwdproxy serve refuses the service's settings: %v", err)
	}
	// --user is the account the init SQL creates, with the same password.
	name, pass, _ := strings.Cut(vals["user"], ":")
	sql := read(t, "deploy/mysql/init/01-writer.sql")
	if !strings.Contains(sql, fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';", name, pass)) {
		t.Errorf("01-writer.sql does not create %s with the password fwdproxy uses", name)
	}
}

// cnf reads the [mysqld] section of an option file: name (with '_') -> value.
func cnf(t *testing.T, rel string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(read(t, rel)))
	section := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "mysqld" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		vars[strings.ReplaceAll(strings.TrimSpace(k), "-", "_")] = strings.TrimSpace(v)
	}
	return vars
}

// persisted reads SET PERSIST name = value statements of a SQL file.
func persisted(t *testing.T, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?i)SET PERSIST (\w+)\s*=\s*'?(\w+)'?;`).FindAllStringSubmatch(read(t, rel), -1) {
		out[strings.ToLower(m[1])] = m[2]
	}
	return out
}

// fakeServer answers the statements the doctor sends beyond the variables: the
// grants the init SQL gives the app user, a running replication from the writer
// (what init sets up), and session tracking (a MySQL 8.0 feature, not a setting).
type fakeServer struct {
	grants []string
	status map[string]string
}

func one(v string) *doctor.Rows {
	return &doctor.Rows{Columns: []string{"v"}, Values: [][]*string{{&v}}}
}

func (f fakeServer) Query(_ context.Context, q string) (*doctor.Rows, error) {
	switch q {
	case "SHOW GRANTS":
		r := &doctor.Rows{Columns: []string{"Grants for app@%"}}
		for i := range f.grants {
			r.Values = append(r.Values, []*string{&f.grants[i]})
		}
		return r, nil
	case "SHOW REPLICA STATUS":
		r := &doctor.Rows{}
		if f.status != nil {
			var row []*string
			for k, v := range f.status {
				r.Columns = append(r.Columns, k)
				row = append(row, &v)
			}
			r.Values = [][]*string{row}
		}
		return r, nil
	case "SET SESSION session_track_gtids = OWN_GTID":
		return &doctor.Rows{}, nil
	case "SELECT @@SESSION.session_track_gtids":
		return one("OWN_GTID"), nil
	}
	return nil, fmt.Errorf("fake server: unexpected %q", q)
}

// TestOptionFilesPassDoctor runs the doctor's checks on the settings the compose set-up
// gives each server: only what deploy/mysql/*.cnf and the init SQL's SET PERSIST say,
// no server defaults, so a setting missing from the files is a WARN or FAIL here.
func TestOptionFilesPassDoctor(t *testing.T) {
	wv := cnf(t, "deploy/mysql/writer.cnf")
	rv := cnf(t, "deploy/mysql/replica.cnf")
	for k, v := range persisted(t, "deploy/mysql/init/02-replica.sql") {
		rv[k] = v
	}
	if _, ok := rv["super_read_only"]; !ok {
		t.Fatal("02-replica.sql must SET PERSIST super_read_only = ON")
	}
	for _, vars := range []map[string]string{wv, rv} {
		// The log_bin option names the binlog files; the variable says whether it is on.
		if v, ok := vars["log_bin"]; ok && v != "OFF" && v != "0" {
			vars["log_bin"] = "ON"
		}
	}
	// Each container's data directory makes its own server_uuid (auto.cnf) at first start.
	wv["server_uuid"] = "writer-uuid"
	rv["server_uuid"] = "replica-uuid"
	var grants []string
	for _, m := range regexp.MustCompile(`(?s)GRANT [^;]*? TO 'app'@'%'`).FindAllString(read(t, "deploy/mysql/init/01-writer.sql"), -1) {
		grants = append(grants, strings.Join(strings.Fields(m), " "))
	}
	if len(grants) == 0 {
		t.Fatal("01-writer.sql grants nothing to app")
	}
	status := map[string]string{
		"Replica_IO_Running": "Yes", "Replica_SQL_Running": "Yes", "Last_IO_Errno": "0", "Last_SQL_Errno": "0",
		"Seconds_Behind_Source": "0", "Source_Server_Id": wv["server_id"], "Auto_Position": "1",
	}
	mk := func(role string, vars map[string]string, f fakeServer) *doctor.Server {
		return &doctor.Server{Role: role, Addr: role + ":3306", Q: f, Version: "8.0.40", User: "app@%",
			Flavor: consistency.MySQL, Vars: vars}
	}
	w := mk("writer", wv, fakeServer{grants: grants})
	r := mk("replica", rv, fakeServer{grants: grants, status: status})
	rep := doctor.Run(context.Background(), w, r, doctor.Options{MaxLag: 5 * time.Second})
	var b strings.Builder
	_ = rep.WriteText(&b)
	for _, x := range rep.Results {
		if x.Status == doctor.Warn || x.Status == doctor.Fail {
			t.Errorf("%s %s %s: %s", x.Status, x.Server, x.Check, x.Detail)
		}
	}
	// The MySQL-only checks ran.
	for _, check := range []string{"gtid_mode", "enforce_gtid_consistency", "binlog_row_metadata", "log_replica_updates", "super_read_only", "binlog_retention", "read_only_bypass", "max_connections"} {
		if len(rep.Find(check)) == 0 {
			t.Errorf("no %s result", check)
		}
	}
	if t.Failed() {
		t.Logf("doctor on the compose settings:\n%s", b.String())
	}
}

func TestToxiproxyLink(t *testing.T) {
	var proxies []struct {
		Name, Listen, Upstream string
		Enabled                bool
	}
	if err := json.Unmarshal([]byte(read(t, "deploy/toxiproxy.json")), &proxies); err != nil {
		t.Fatal(err)
	}
	if len(proxies) != 1 || proxies[0].Upstream != "writer:3306" || !proxies[0].Enabled || proxies[0].Listen != "0.0.0.0:3307" {
		t.Fatalf("toxiproxy.json: %+v", proxies)
	}
	c, _ := load(t)
	toxic := strings.Join(c.Services["lag-toxic"].Entrypoint, " ")
	if !strings.HasSuffix(toxic, " "+proxies[0].Name) || !strings.Contains(toxic, "--type latency") {
		t.Errorf("lag-toxic %q must add a latency toxic to proxy %s", toxic, proxies[0].Name)
	}
	sql := read(t, "deploy/mysql/lag.sql")
	if !strings.Contains(sql, "SOURCE_HOST = 'lag', SOURCE_PORT = 3307") {
		t.Errorf("lag.sql must point the replica at lag:3307:\n%s", sql)
	}
}

func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	mod := read(t, "go.mod")
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(mod)
	if goVer == nil {
		t.Fatal("go.mod: no go line")
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\w+))?`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 {
		t.Fatalf("want a two-stage build, got %v", froms)
	}
	if !strings.HasPrefix(froms[0][1], "golang:"+goVer[1]) || froms[0][2] == "" {
		t.Errorf("first stage %q: want golang:%s… AS name", froms[0][0], goVer[1])
	}
	if !strings.Contains(froms[1][1], "distroless") && !strings.Contains(froms[1][1], "slim") {
		t.Errorf("final stage %q: want distroless or debian-slim", froms[1][1])
	}
	for _, want := range []string{"./cmd/fwdproxy", "COPY --from=" + froms[0][2], "ENTRYPOINT"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, ".dockerignore")); err != nil {
		t.Error(err)
	}
}
