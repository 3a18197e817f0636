// Package accounts is the writer's accounts as the proxy authenticates
// clients against them (serve --accounts writer): the rows of
// mysql.global_priv (MariaDB) or mysql.user (MySQL), their host patterns
// matched the way the server matches them, and the mysql_native_password
// arithmetic that checks a client's answer against the stored double SHA1
// and logs in to the backends with the SHA1 it recovers.
package accounts
