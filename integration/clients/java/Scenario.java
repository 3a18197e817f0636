// The client-matrix scenario (integration/clients_test.go) with MariaDB Connector/J.
//
// Run as a single-file source program:
//   java -cp /usr/share/java/mariadb-java-client.jar Scenario.java
// Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
// the writer beforehand), FWD_MODE ssps (useServerPrepStmts=true) | default, FWD_STACK (name in
// the "OK" line). Exits non-zero with a FAIL line on the first failure.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class Scenario {
    static String stack;

    static void fail(String msg) {
        System.out.println("FAIL " + stack + ": " + msg);
        System.out.flush();
        System.exit(1);
    }

    static void check(boolean cond, String msg) {
        if (!cond) fail(msg);
    }

    static String env(String k) {
        String v = System.getenv(k);
        if (v == null) fail("missing " + k);
        return v;
    }

    public static void main(String[] args) {
        stack = System.getenv().getOrDefault("FWD_STACK", "java");
        try {
            run();
        } catch (Throwable e) {
            if (e instanceof SQLException) {
                SQLException se = (SQLException) e;
                fail("SQLException " + se.getErrorCode() + " " + se.getSQLState() + ": " + se.getMessage());
            }
            fail(e.toString());
        }
        System.out.println("OK " + stack);
        System.out.flush();
        System.exit(0);
    }

    static void run() throws Exception {
        String mode = System.getenv().getOrDefault("FWD_MODE", "default");
        String table = env("FWD_TABLE");
        String url = "jdbc:mariadb://" + env("FWD_HOST") + ":" + env("FWD_PORT") + "/" + env("FWD_DB");
        if (mode.equals("ssps")) {
            url += "?useServerPrepStmts=true";
        } else if (!mode.equals("default")) {
            fail("unknown FWD_MODE " + mode);
        }
        try (Connection conn = DriverManager.getConnection(url, env("FWD_USER"), env("FWD_PASSWORD"))) {
            System.out.println("driver " + conn.getMetaData().getDriverVersion() + " url " + url);
            try (Statement st = conn.createStatement()) {
                // 1. the session consistency
                st.execute("SET aurora_replica_read_consistency = 'SESSION'");
                try (ResultSet rs = st.executeQuery("SELECT @@aurora_replica_read_consistency")) {
                    check(rs.next() && "SESSION".equals(rs.getString(1)), "consistency not SESSION");
                }

                // 2. a forwarded INSERT and its insert id
                int n = st.executeUpdate("INSERT INTO " + table + " (v, s) VALUES (1, 'first')", Statement.RETURN_GENERATED_KEYS);
                check(n == 1, "insert affected " + n);
                long firstId;
                try (ResultSet rs = st.getGeneratedKeys()) {
                    check(rs.next(), "no generated key");
                    firstId = rs.getLong(1);
                }
                check(firstId > 0, "generated key " + firstId);
                System.out.println("insert_id=" + firstId);
                try (ResultSet rs = st.executeQuery("SELECT LAST_INSERT_ID()")) {
                    check(rs.next() && rs.getLong(1) == firstId, "LAST_INSERT_ID() differs from the generated key");
                }

                // 3. read-your-write
                try (PreparedStatement ps = conn.prepareStatement("SELECT v, s FROM " + table + " WHERE id = ?")) {
                    ps.setLong(1, firstId);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "read-your-write: row " + firstId + " not found");
                        check(rs.getInt(1) == 1 && "first".equals(rs.getString(2)), "read-your-write: wrong row");
                    }
                }

                // 4. prepared INSERT and SELECT, twice each
                try (PreparedStatement ins = conn.prepareStatement("INSERT INTO " + table + " (v, s) VALUES (?, ?)", Statement.RETURN_GENERATED_KEYS);
                     PreparedStatement sel = conn.prepareStatement("SELECT s FROM " + table + " WHERE v = ?")) {
                    for (int v = 2; v <= 3; v++) {
                        ins.setInt(1, v);
                        ins.setString(2, "p" + v);
                        check(ins.executeUpdate() == 1, "prepared insert " + v);
                        try (ResultSet rs = ins.getGeneratedKeys()) {
                            check(rs.next() && rs.getLong(1) > firstId, "prepared insert " + v + ": generated key");
                        }
                    }
                    for (int v = 2; v <= 3; v++) {
                        sel.setInt(1, v);
                        try (ResultSet rs = sel.executeQuery()) {
                            check(rs.next() && ("p" + v).equals(rs.getString(1)), "prepared select " + v);
                            check(!rs.next(), "prepared select " + v + ": more than one row");
                        }
                    }

                    // 5. COMMIT and ROLLBACK
                    conn.setAutoCommit(false);
                    ins.setInt(1, 4);
                    ins.setString(2, "commit");
                    ins.executeUpdate();
                    sel.setInt(1, 4);
                    try (ResultSet rs = sel.executeQuery()) {
                        check(rs.next(), "transaction does not see its own insert");
                    }
                    conn.commit();
                    ins.setInt(1, 5);
                    ins.setString(2, "rollback");
                    ins.executeUpdate();
                    conn.rollback();
                    conn.setAutoCommit(true);
                    sel.setInt(1, 5);
                    try (ResultSet rs = sel.executeQuery()) {
                        check(!rs.next(), "rolled-back row visible");
                    }
                    sel.setInt(1, 4);
                    try (ResultSet rs = sel.executeQuery()) {
                        check(rs.next(), "committed row not visible");
                    }
                }

                // 6. a 1235 rejection, as a plain statement and as a prepared one
                String[] ddl = {"CREATE TABLE " + table + "_x (i INT)", "CREATE TABLE " + table + "_y (i INT)"};
                for (int i = 0; i < ddl.length; i++) {
                    try {
                        if (i == 0) {
                            st.execute(ddl[i]);
                        } else {
                            try (PreparedStatement ps = conn.prepareStatement(ddl[i])) {
                                ps.execute();
                            }
                        }
                        fail(ddl[i] + " succeeded");
                    } catch (SQLException e) {
                        check(e.getErrorCode() == 1235, ddl[i] + ": want 1235, got " + e.getErrorCode() + " " + e.getMessage());
                        System.out.println("rejected " + e.getErrorCode() + " " + e.getMessage());
                    }
                }
                try (ResultSet rs = st.executeQuery("SELECT 1")) {
                    check(rs.next() && rs.getInt(1) == 1, "connection unusable after the rejection");
                }

                // 7. a multi-row result, read whole and streamed (fetch size)
                for (int fetch : new int[] {0, 100}) {
                    try (PreparedStatement ps = conn.prepareStatement("SELECT seq, CONCAT('r', seq) FROM seq_1_to_1000 WHERE seq <= ?")) {
                        ps.setInt(1, 1000);
                        ps.setFetchSize(fetch);
                        long sum = 0;
                        int rows = 0;
                        try (ResultSet rs = ps.executeQuery()) {
                            while (rs.next()) {
                                long seq = rs.getLong(1);
                                check(("r" + seq).equals(rs.getString(2)), "row " + seq);
                                sum += seq;
                                rows++;
                            }
                        }
                        check(rows == 1000 && sum == 500500, "multi-row (fetch size " + fetch + "): " + rows + " rows, sum " + sum);
                        System.out.println("rows=" + rows + " sum=" + sum + " fetchSize=" + fetch);
                    }
                }
            }
        }
    }
}
