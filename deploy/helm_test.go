package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/fwdproxy/fwdproxy/metrics"
	"github.com/fwdproxy/fwdproxy/proxy"
)

const chart = root + "/deploy/helm/fwdproxy"

// helmBin is the helm that `make test` builds (bin/tools/helm); FWDPROXY_HELM
// names another.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("FWDPROXY_HELM")
	if bin == "" {
		bin, _ = filepath.Abs(root + "/bin/tools/helm")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no helm at %s (make test builds it: make bin/tools/helm): %v", bin, err)
	}
	return bin
}

var required = []string{"--set", "secret.users[0]=app:apppass", "--set", "secret.adminToken=tok"}

// render runs helm template and returns its objects by kind.
func render(t *testing.T, helm string, set ...string) map[string]map[string]any {
	t.Helper()
	args := append([]string{"template", "fw", chart}, set...)
	out, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	objs := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			break
		}
		if o == nil {
			continue
		}
		kind, _ := o["kind"].(string)
		if _, dup := objs[kind]; dup {
			t.Fatalf("two %s objects", kind)
		}
		objs[kind] = o
	}
	return objs
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestHelmChart(t *testing.T) {
	helm := helmBin(t)
	if out, err := exec.Command(helm, append([]string{"lint", "--strict", chart}, required...)...).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	// Without accounts or token the chart refuses to render: the pods'
	// admin address is not loopback, which fwdproxy refuses without a token.
	if out, err := exec.Command(helm, "template", "fw", chart).CombinedOutput(); err == nil || !strings.Contains(string(out), "required") {
		t.Errorf("helm template without secret values: err %v, output %s; want a 'required' error", err, out)
	}

	objs := render(t, helm, required...)
	var kinds []string
	for k := range objs {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	if want := []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service"}; !slices.Equal(kinds, want) {
		t.Errorf("default objects %v, want %v", kinds, want)
	}
	all := render(t, helm, append(required, "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true")...)
	for _, k := range []string{"ServiceMonitor", "PrometheusRule"} {
		if all[k] == nil {
			t.Errorf("no %s with it enabled", k)
		}
	}
	if dig(all["ServiceMonitor"], "spec", "endpoints", 0, "authorization", "credentials", "key") != "admin-token" {
		t.Error("the ServiceMonitor does not scrape /metrics with the admin token")
	}
	if n := len(dig(all["PrometheusRule"], "spec", "groups", 0, "rules").([]any)); n == 0 {
		t.Error("the PrometheusRule has no rules")
	}

	c := dig(objs["Deployment"], "spec", "template", "spec", "containers", 0)
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" || dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Errorf("probes: readiness %v, liveness %v", dig(c, "readinessProbe"), dig(c, "livenessProbe"))
	}
	if args := fmt.Sprint(dig(c, "args")); args != "[serve --config /etc/fwdproxy/config/fwdproxy.yaml]" {
		t.Errorf("container args %s", args)
	}
	// configReload: watch (the default) mounts the ConfigMap as a directory,
	// which kubelet updates in place, and has fwdproxy watch it; restart
	// rolls the pods on a change instead.
	for _, m := range dig(c, "volumeMounts").([]any) {
		if dig(m, "subPath") != nil {
			t.Errorf("a subPath mount never sees a ConfigMap or Secret change: %v", m)
		}
	}
	annotations := func(objs map[string]map[string]any) map[string]any {
		a, _ := dig(objs["Deployment"], "spec", "template", "metadata", "annotations").(map[string]any)
		return a
	}
	if a := annotations(objs); a["checksum/config"] != nil {
		t.Errorf("configReload watch rolls the pods on a config change: %v", a)
	}
	restart := render(t, helm, append(required, "--set", "configReload=restart")...)
	if a := annotations(restart); a["checksum/config"] == nil || a["checksum/secret"] == nil {
		t.Errorf("configReload restart: annotations %v, want checksums of the config and the secret", a)
	}
	if text, _ := dig(restart["ConfigMap"], "data", "fwdproxy.yaml").(string); strings.Contains(text, "config-watch") {
		t.Errorf("configReload restart still watches: %s", text)
	}
	if out, err := exec.Command(helm, append([]string{"template", "fw", chart, "--set", "configReload=sometimes"}, required...)...).CombinedOutput(); err == nil {
		t.Errorf("configReload=sometimes rendered: %s", out)
	}
	grace, _ := dig(objs["Deployment"], "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if grace <= 15+30 {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than the graceful wait and the drain", grace)
	}

	// The config the pod reads is one fwdproxy accepts, with the Secret's
	// files where the pod mounts them.
	text, _ := dig(objs["ConfigMap"], "data", "fwdproxy.yaml").(string)
	var conf map[string]any
	if err := yaml.Unmarshal([]byte(text), &conf); err != nil {
		t.Fatalf("fwdproxy.yaml: %v\n%s", err, text)
	}
	dir := t.TempDir()
	secret := dig(objs["Secret"], "stringData").(map[string]any)
	v := proxy.Values{}
	for k, x := range conf {
		if l, ok := x.([]any); ok {
			for _, e := range l {
				v[k] = append(v[k], fmt.Sprint(e))
			}
			continue
		}
		s := fmt.Sprint(x)
		if strings.HasPrefix(s, "/etc/fwdproxy/secret/") {
			name := filepath.Base(s)
			s = filepath.Join(dir, name)
			if err := os.WriteFile(s, []byte(secret[name].(string)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		v[k] = []string{s}
	}
	cfg, err := proxy.ConfigFrom(v, func(string) string { return "" })
	if err != nil {
		t.Fatalf("fwdproxy refuses the chart's config: %v\n%s", err, text)
	}
	if cfg.Listen != "0.0.0.0:4000" || cfg.AdminToken != "tok" || cfg.Users["app"] != "apppass" || cfg.GracefulWait.Seconds() != 15 ||
		cfg.ConfigWatch.Seconds() != 10 {
		t.Errorf("config: listen %s, token %q, users %v, graceful wait %v, config watch %v", cfg.Listen, cfg.AdminToken, cfg.Users, cfg.GracefulWait, cfg.ConfigWatch)
	}
}

// Every series the alert rules name is one fwdproxy exports.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(chart + "/files/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	// Two readers, so the per-reader series exist too.
	c, err := proxy.ConfigFrom(proxy.Values{"writer": {"127.0.0.1:1"}, "reader": {"127.0.0.1:1", "127.0.0.1:2"}, "user": {"app:pw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	srv, err := proxy.NewServer(c, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	// Exported once the first check of a reader has answered.
	exported := map[string]bool{"fwdproxy_reader_stray_gtids": true}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	name := regexp.MustCompile(`\bfwdproxy_[a-z0-9_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, s := range name.FindAllString(r.Expr, -1) {
				if !exported[s] {
					t.Errorf("alert %s uses %s, which fwdproxy does not export", r.Alert, s)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules")
	}
}
