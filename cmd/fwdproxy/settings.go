package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/fwdproxy/fwdproxy/proxy"
)

// The serve settings come from proxy.Settings, one row each: the flag
// --NAME, the YAML key NAME and the variable FWDPROXY_NAME. This file only
// reads the three sources; what a value means is the row's.

// settingFlag is the flag of one setting; it records the texts given.
type settingFlag struct {
	s     proxy.Setting
	texts []string
}

func (f *settingFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(f.texts, ",")
}

func (f *settingFlag) Set(v string) error {
	if f.s.IsList() {
		f.texts = append(f.texts, v)
	} else {
		f.texts = []string{v}
	}
	return nil
}

func (f *settingFlag) IsBoolFlag() bool { return f.s.IsBool() }

// readSettings reads --config FILE, then FWDPROXY_* variables, then flags,
// each replacing what the one before gave (a list as a whole). It returns
// the files that hold secrets with them: the config file if it has a
// password or the admin token, and the files the settings name; and the
// config file's path ("" without one).
func readSettings(args []string, getenv func(string) string, out io.Writer) (vals proxy.Values, secrets []string, config string, err error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags := map[string]*settingFlag{}
	for _, s := range proxy.Settings {
		flags[s.Name] = &settingFlag{s: s}
		fs.Var(flags[s.Name], s.Name, s.Help())
	}
	configFile := fs.String("config", "", configHelp)
	fs.SetOutput(io.Discard) // errors are reported in one line by the caller
	if err := fs.Parse(joinBoolValues(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(out)
		}
		return nil, nil, "", err
	}
	if fs.NArg() > 0 {
		return nil, nil, "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	vals = proxy.Values{}
	if *configFile != "" {
		if err := loadFile(*configFile, vals); err != nil {
			return nil, nil, "", err
		}
		if holdsSecrets(vals) {
			secrets = append(secrets, *configFile)
		}
	}
	for _, s := range proxy.Settings {
		if v := getenv(s.Env()); v != "" {
			vals[s.Name] = []string{v}
			if s.IsList() {
				vals[s.Name] = strings.Split(v, ",")
			}
		}
	}
	for name, f := range flags {
		if len(f.texts) > 0 {
			vals[name] = f.texts
		}
	}
	return vals, append(secrets, proxy.SecretFiles(vals)...), *configFile, nil
}

// holdsSecrets says values have a password (not env:VAR or file:PATH) or
// the admin token.
func holdsSecrets(vals proxy.Values) bool {
	for _, u := range vals["user"] {
		_, pass, _ := strings.Cut(u, ":")
		if !strings.HasPrefix(pass, "env:") && !strings.HasPrefix(pass, "file:") {
			return true
		}
	}
	return len(vals["admin-token"]) > 0
}

const configHelp = "YAML file with the same settings (NAME: VALUE; a list as a sequence)"

// printUsage is --help, in the table's order.
func printUsage(out io.Writer) {
	fmt.Fprintln(out, "usage: fwdproxy serve [flags]")
	fmt.Fprintln(out, "Every flag is also a key of the --config file and a FWDPROXY_<NAME> variable (FWDPROXY_USER=a:x,b:y);")
	fmt.Fprintln(out, "flags override the environment, which overrides the file.")
	for _, s := range proxy.Settings {
		fmt.Fprintf(out, "  --%s %s\n    \t%s\n", s.Name, s.Arg(), s.Help())
	}
	fmt.Fprintf(out, "  --config FILE\n    \t%s\n", configHelp)
}

// joinBoolValues turns `--audit true` into `--audit=true`: boolean settings
// take a value after a space, as they did before `--audit` alone meant true.
func joinBoolValues(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		name := strings.TrimLeft(a, "-")
		if a == "--" || !strings.HasPrefix(a, "-") {
			return append(out, args[i+1:]...) // the flags end here
		}
		f := fs.Lookup(name)
		if f == nil || i+1 == len(args) {
			continue // unknown, or a=b: fs.Parse deals with it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			i++ // the next argument is this flag's value
			out = append(out, args[i])
		} else if _, err := strconv.ParseBool(args[i+1]); err == nil {
			i++
			out[len(out)-1] = a + "=" + args[i]
		}
	}
	return out
}

// loadFile reads the YAML file: a mapping of setting names to a value, or
// to a sequence for a list.
func loadFile(path string, vals proxy.Values) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("--config %s: %v", path, firstLine(err.Error()))
	}
	if len(doc.Content) == 0 {
		return nil // an empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("--config %s: line %d: want NAME: VALUE lines", path, m.Line)
	}
	rows := map[string]proxy.Setting{}
	for _, s := range proxy.Settings {
		rows[s.Name] = s
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, v := m.Content[i], m.Content[i+1]
		s, ok := rows[key.Value]
		switch {
		case !ok:
			return fmt.Errorf("--config %s: line %d: unknown setting %q", path, key.Line, key.Value)
		case v.Tag == "!!null":
			continue // `name:` with nothing after it: the default
		case v.Kind == yaml.ScalarNode:
			vals[s.Name] = []string{v.Value}
		case v.Kind == yaml.SequenceNode && s.IsList():
			texts := []string{}
			for _, item := range v.Content {
				texts = append(texts, item.Value)
			}
			vals[s.Name] = texts
		default:
			return fmt.Errorf("--config %s: line %d: %s takes one value", path, v.Line, s.Name)
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
