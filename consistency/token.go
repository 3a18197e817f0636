package consistency

import (
	"fmt"
	"strings"
)

// A causality token names what a session committed through a writer, so
// that a session elsewhere (another connection, another proxy instance in
// front of the same writer) can wait for it:
//
//	fp1:<flavour>:<cluster>:<gtid set>
//
// fp1 is the format version; the flavour is "ma" (MariaDB) or "my"
// (MySQL); the cluster is the writer's identity as ClusterSQL reads it;
// the GTID set is in the flavour's canonical syntax, which has no spaces.
// The set is last, so the colons of a MySQL set need no escaping.
const tokenVersion = "fp1"

func tokenFlavour(f Flavor) string {
	if f.Name() == "mariadb" {
		return "ma"
	}
	return "my"
}

// EncodeToken is the token for set, committed through the writer cluster
// names.
func EncodeToken(f Flavor, cluster string, set Set) string {
	gtids := ""
	if set != nil {
		gtids = set.String()
	}
	return tokenVersion + ":" + tokenFlavour(f) + ":" + cluster + ":" + gtids
}

// ParseToken reads a token for a proxy of flavour f in front of the writer
// cluster names: its GTID set, or an error that says what is wrong with it
// (malformed, another flavour, another cluster).
func ParseToken(f Flavor, cluster, tok string) (Set, error) {
	parts := strings.SplitN(tok, ":", 4)
	if len(parts) != 4 || parts[0] != tokenVersion || parts[2] == "" || strings.ContainsAny(tok, " \t\r\n") {
		return nil, fmt.Errorf("not a fwdproxy causal token (want %s:<flavour>:<cluster>:<gtids>)", tokenVersion)
	}
	if parts[1] != "ma" && parts[1] != "my" {
		return nil, fmt.Errorf("unknown flavour %q in causal token", parts[1])
	}
	if parts[1] != tokenFlavour(f) {
		return nil, fmt.Errorf("causal token is from a %s writer, this proxy forwards to %s", flavourName(parts[1]), f.Name())
	}
	if parts[2] != cluster {
		return nil, &OtherClusterError{Token: parts[2], Writer: cluster}
	}
	set, err := f.ParseSet(parts[3])
	if err != nil {
		return nil, fmt.Errorf("bad GTID set in causal token: %v", err)
	}
	return set, nil
}

// OtherClusterError: the token names another writer than the proxy's.
// That writer may be a former one of the same cluster (a switchover since
// the token was issued): the caller can check the writer's history
// (Flavor.InClusterHistory) and parse again with the token's cluster.
type OtherClusterError struct{ Token, Writer string }

func (e *OtherClusterError) Error() string {
	return fmt.Sprintf("causal token is from another cluster (%s), this proxy's writer is %s", e.Token, e.Writer)
}

func flavourName(code string) string {
	if code == "ma" {
		return "mariadb"
	}
	return "mysql"
}
