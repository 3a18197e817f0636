package accounts

import (
	"encoding/json"
	"fmt"
	"strings"
)

// NativePlugin is the one plugin the proxy can check without the password.
const NativePlugin = "mysql_native_password"

// Account is one user@host row of the writer.
type Account struct {
	User, Host string
	// Plugin checks the password: NativePlugin when the account has a
	// usable native hash, else the plugin that would need the plaintext
	// (ed25519, unix_socket, caching_sha2_password, ...); "" when no
	// password can log in (MariaDB's 'invalid' hash).
	Plugin string
	Stage2 []byte // NativePlugin: SHA1(SHA1(password)); nil for an empty password
	Locked bool
}

// Queries read the accounts: MariaDB keeps them as JSON in
// mysql.global_priv, MySQL in the columns of mysql.user.
const (
	MariaDBQuery = "SELECT User, Host, Priv FROM mysql.global_priv"
	MySQLQuery   = "SELECT User, Host, plugin, authentication_string, account_locked FROM mysql.user"
)

// globalPriv is the part of MariaDB's Priv JSON that says how to log in.
// auth_or lists alternatives (IDENTIFIED VIA a OR b); an empty element
// stands for the top-level plugin.
type globalPriv struct {
	authMethod
	Locked bool         `json:"account_locked"`
	IsRole bool         `json:"is_role"`
	AuthOr []authMethod `json:"auth_or"`
}

type authMethod struct {
	Plugin string `json:"plugin"`
	Auth   string `json:"authentication_string"`
}

// ParseMariaDB reads one row of MariaDBQuery.
func ParseMariaDB(user, host, priv string) (Account, error) {
	var p globalPriv
	if err := json.Unmarshal([]byte(priv), &p); err != nil {
		return Account{}, fmt.Errorf("'%s'@'%s': Priv is not JSON: %v", user, host, err)
	}
	ways := []authMethod{p.authMethod}
	if len(p.AuthOr) > 0 {
		ways = ways[:0]
		for _, w := range p.AuthOr {
			if w.Plugin == "" {
				w = p.authMethod
			}
			ways = append(ways, w)
		}
	}
	a := choose(ways)
	if p.IsRole {
		a = Account{} // a role has no password: nobody logs in as it
	}
	a.User, a.Host, a.Locked = user, host, p.Locked
	return a, nil
}

// ParseMySQL reads one row of MySQLQuery.
func ParseMySQL(user, host, plugin, auth, locked string) Account {
	a := choose([]authMethod{{plugin, auth}})
	a.User, a.Host, a.Locked = user, host, strings.EqualFold(locked, "Y")
	return a
}

// choose takes the first native way with a usable hash; without one, the
// first other plugin names what the account needs.
func choose(ways []authMethod) Account {
	var other string
	for _, w := range ways {
		plugin := w.Plugin
		if plugin == "" {
			plugin = NativePlugin // MariaDB before 10.4 and some rows leave it out
		}
		if plugin == NativePlugin {
			if h, err := ParseNativeHash(w.Auth); err == nil {
				return Account{Plugin: NativePlugin, Stage2: h}
			}
			continue
		}
		if other == "" {
			other = plugin
		}
	}
	return Account{Plugin: other}
}

// ParseRows reads the result of MariaDBQuery (mysql false) or MySQLQuery;
// rows it cannot read are left out and counted.
func ParseRows(rows [][]string, mysql bool) (all []Account, skipped int) {
	for _, r := range rows {
		switch {
		case mysql && len(r) == 5:
			all = append(all, ParseMySQL(r[0], r[1], r[2], r[3], r[4]))
		case !mysql && len(r) == 3:
			a, err := ParseMariaDB(r[0], r[1], r[2])
			if err != nil {
				skipped++
				continue
			}
			all = append(all, a)
		default:
			skipped++
		}
	}
	return all, skipped
}
