// The stacks-matrix steps (integration/matrix_test.go) with MariaDB Connector/J (Debian:
// libmariadb-java), run as a single-file source program:
//   java -cp /usr/share/java/mariadb-java-client.jar Stacks.java
// Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
// the writer beforehand), FWD_MODE rewrite (rewriteBatchedStatements=true) | ssps
// (useServerPrepStmts=true) | bulk (useBulkStmts=true), FWD_STACK. Besides the common steps,
// "batch" inserts k='batch1..3' (n=21..23) with executeBatch and reads them back at once, and
// "batch-nokeys" k='bulk1..3' (n=24..26) without generated keys, which the bulk mode sends as
// one COM_STMT_BULK_EXECUTE.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

public class Stacks {
    // Escaped: java reads a source file in the locale's charset, and a fresh
    // machine's POSIX locale turned the literal into question marks.
    static final String UTF8 = "\u00f1 \ud83d\ude00 \u4e2d\u6587 \ud834\udd1e";
    static final String DEC = "12345678.9012";
    static final String DT = "2024-02-29 12:34:56.789012";
    static final int BIG = 12000;

    static String table, url;
    static Connection conn;
    static boolean failed;
    static long first;

    static class Failed extends Exception {
        Failed(String m) { super(m); }
    }

    interface Step { void run() throws Exception; }

    static void check(boolean cond, String msg) throws Failed {
        if (!cond) throw new Failed(msg);
    }

    static String env(String k) {
        String v = System.getenv(k);
        if (v == null) {
            System.out.println("FAIL setup: missing " + k);
            System.exit(2);
        }
        return v;
    }

    static String describe(Throwable e) {
        if (e instanceof Failed) return e.getMessage();
        if (e instanceof SQLException) {
            SQLException se = (SQLException) e;
            return "SQLException " + se.getErrorCode() + " " + se.getSQLState() + ": " + se.getMessage();
        }
        return e.toString();
    }

    static Connection connect() throws SQLException {
        return DriverManager.getConnection(url, env("FWD_USER"), env("FWD_PASSWORD"));
    }

    static void step(String name, Step s) {
        try {
            s.run();
            System.out.println("PASS " + name);
        } catch (Throwable e) {
            failed = true;
            System.out.println("FAIL " + name + ": " + describe(e).replaceAll("\\s+", " "));
            try {
                conn.close();
                conn = connect();
            } catch (SQLException e2) {
                System.out.println("reconnect after " + name + " failed: " + e2.getMessage());
            }
        }
        System.out.flush();
    }

    static void exec(String sql) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute(sql);
        }
    }

    static List<List<Object>> rows(String sql, Object... params) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) ps.setObject(i + 1, params[i]);
            try (ResultSet rs = ps.executeQuery()) {
                List<List<Object>> out = new ArrayList<>();
                int n = rs.getMetaData().getColumnCount();
                while (rs.next()) {
                    List<Object> row = new ArrayList<>();
                    for (int i = 1; i <= n; i++) row.add(rs.getObject(i));
                    out.add(row);
                }
                return out;
            }
        }
    }

    static String nOf(String k) throws SQLException {
        List<Object> ns = new ArrayList<>();
        for (List<Object> r : rows("SELECT n FROM " + table + " WHERE k = ?", k)) ns.add(r.get(0));
        return ns.toString();
    }

    static long insert(PreparedStatement ps) throws Exception {
        check(ps.executeUpdate() == 1, "insert affected no row");
        try (ResultSet rs = ps.getGeneratedKeys()) {
            check(rs.next(), "no generated key");
            return rs.getLong(1);
        }
    }

    public static void main(String[] args) throws Exception {
        String mode = env("FWD_MODE");
        table = env("FWD_TABLE");
        url = "jdbc:mariadb://" + env("FWD_HOST") + ":" + env("FWD_PORT") + "/" + env("FWD_DB");
        switch (mode) {
        case "rewrite": url += "?rewriteBatchedStatements=true"; break;
        case "ssps": url += "?useServerPrepStmts=true"; break;
        // 2.7.6 asks for MariaDB's bulk operations only with useBulkStmts.
        case "bulk": url += "?useBulkStmts=true"; break;
        default: System.out.println("FAIL setup: unknown FWD_MODE " + mode); System.exit(2);
        }
        conn = connect();
        System.out.println("driver " + conn.getMetaData().getDriverVersion() + " url " + url);
        String t = table;
        byte[] blob = new byte[256];
        for (int i = 0; i < 256; i++) blob[i] = (byte) i;

        step("connect", () -> {
            List<Object> r = rows("SELECT @@aurora_replica_read_consistency, @@autocommit").get(0);
            check("SESSION".equals(r.get(0)) && ((Number) r.get(1)).intValue() == 1, "consistency, autocommit " + r);
            check(conn.getAutoCommit(), "the driver believes autocommit is off");
        });
        step("readback", () -> {
            try (Statement st = conn.createStatement()) {
                check(st.executeUpdate("INSERT INTO " + t + " (k, n, s) VALUES ('first', 1, 'first')", Statement.RETURN_GENERATED_KEYS) == 1, "insert");
                try (ResultSet rs = st.getGeneratedKeys()) {
                    check(rs.next(), "no generated key");
                    first = rs.getLong(1);
                }
            }
            System.out.println("insert_id=" + first);
            List<List<Object>> r = rows("SELECT n, s FROM " + t + " WHERE id = ?", first);
            check(r.size() == 1, "row " + first + " not found right after the insert");
            check(r.get(0).equals(Arrays.asList(1, "first")), "read back " + r);
        });
        step("lastid", () -> {
            long key;
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, n) VALUES ('lastid', 9)", Statement.RETURN_GENERATED_KEYS)) {
                key = insert(ps);
            }
            try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT LAST_INSERT_ID()")) {
                check(rs.next(), "no row");
                check(key >= 1000 && rs.getLong(1) == key, "LAST_INSERT_ID() " + rs.getLong(1) + ", generated key " + key);
            }
        });
        step("prepared", () -> {
            long[] ids = new long[2];
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, n, s) VALUES (?, ?, 'ps')", Statement.RETURN_GENERATED_KEYS)) {
                for (int i = 0; i < 2; i++) {
                    ps.setString(1, "ps" + (i + 1));
                    ps.setInt(2, 11 + i);
                    ids[i] = insert(ps);
                }
            }
            check(ids[0] >= 1000 && ids[1] > ids[0], "generated keys " + Arrays.toString(ids));
            List<List<Object>> lid = rows("SELECT LAST_INSERT_ID()");
            check(((Number) lid.get(0).get(0)).longValue() == ids[1], "prepared LAST_INSERT_ID() " + lid + ", generated key " + ids[1]);
            List<List<Object>> ks = rows("SELECT k FROM " + t + " WHERE n = ?", 12);
            check(ks.equals(List.of(List.of("ps2"))), "prepared SELECT " + ks);
        });
        step("commit", () -> {
            conn.setAutoCommit(false);
            exec("INSERT INTO " + t + " (k, n) VALUES ('commit', 3)");
            check(nOf("commit").equals("[3]"), "transaction misses its insert");
            conn.commit();
            conn.setAutoCommit(true);
            check(nOf("commit").equals("[3]"), "committed row: " + nOf("commit"));
        });
        step("rollback", () -> {
            conn.setAutoCommit(false);
            exec("INSERT INTO " + t + " (k, n) VALUES ('rollback', 4)");
            conn.rollback();
            conn.setAutoCommit(true);
            check(nOf("rollback").equals("[]"), "rolled-back row visible: " + nOf("rollback"));
        });
        step("forupdate", () -> {
            exec("INSERT INTO " + t + " (k, n) VALUES ('lock', 1)");
            conn.setAutoCommit(false);
            List<List<Object>> r = rows("SELECT n FROM " + t + " WHERE k = ? FOR UPDATE", "lock");
            check(r.equals(List.of(List.of(1))), "FOR UPDATE read " + r);
            try (PreparedStatement ps = conn.prepareStatement("UPDATE " + t + " SET n = ? WHERE k = ?")) {
                ps.setInt(1, 2);
                ps.setString(2, "lock");
                check(ps.executeUpdate() == 1, "UPDATE affected no row");
            }
            conn.commit();
            conn.setAutoCommit(true);
            check(nOf("lock").equals("[2]"), "after the update: " + nOf("lock"));
        });
        step("utf8mb4", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, s) VALUES ('utf8', ?)")) {
                ps.setString(1, UTF8);
                ps.executeUpdate();
            }
            List<List<Object>> r = rows("SELECT s FROM " + t + " WHERE k = ?", "utf8");
            check(r.equals(List.of(List.of(UTF8))), "read back " + r);
        });
        step("types", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, n, s, d, t, b) VALUES ('types', ?, ?, ?, ?, ?)")) {
                ps.setNull(1, Types.INTEGER);
                ps.setNull(2, Types.VARCHAR);
                ps.setBigDecimal(3, new BigDecimal(DEC));
                ps.setTimestamp(4, Timestamp.valueOf(DT));
                ps.setBytes(5, blob);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = conn.prepareStatement("SELECT n, s, d, t, b FROM " + t + " WHERE k = ?")) {
                ps.setString(1, "types");
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "no row");
                    check(rs.getObject(1) == null && rs.getObject(2) == null, "NULLs read back as " + rs.getObject(1) + " " + rs.getObject(2));
                    check(rs.getBigDecimal(3).equals(new BigDecimal(DEC)), "DECIMAL " + rs.getBigDecimal(3));
                    check(rs.getTimestamp(4).toString().equals(DT), "DATETIME(6) " + rs.getTimestamp(4));
                    check(Arrays.equals(rs.getBytes(5), blob), "BLOB differs");
                }
            }
        });
        step("bigresult", () -> {
            List<List<Object>> r = rows("SELECT seq, CONCAT('r', seq) FROM seq_1_to_" + BIG);
            long sum = 0;
            for (List<Object> row : r) {
                long seq = ((Number) row.get(0)).longValue();
                check(("r" + seq).equals(row.get(1)), "row " + row);
                sum += seq;
            }
            check(r.size() == BIG && sum == (long) BIG * (BIG + 1) / 2, r.size() + " rows, sum " + sum);
        });
        step("dupkey", () -> {
            exec("INSERT INTO " + t + " (k, n) VALUES ('dup', 5)");
            try {
                exec("INSERT INTO " + t + " (k, n) VALUES ('dup', 55)");
                throw new Failed("second k='dup' inserted");
            } catch (SQLException e) {
                check(e.getErrorCode() == 1062, "want 1062, got " + describe(e));
            }
            exec("INSERT INTO " + t + " (k, n) VALUES ('afterdup', 6)");
            check(nOf("afterdup").equals("[6]"), "after the duplicate: " + nOf("afterdup"));
        });
        step("batch", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, n) VALUES (?, ?)", Statement.RETURN_GENERATED_KEYS)) {
                for (int i = 1; i <= 3; i++) {
                    ps.setString(1, "batch" + i);
                    ps.setInt(2, 20 + i);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                check(counts.length == 3, "executeBatch counts " + Arrays.toString(counts));
                List<Long> keys = new ArrayList<>();
                try (ResultSet rs = ps.getGeneratedKeys()) {
                    while (rs.next()) keys.add(rs.getLong(1));
                }
                check(keys.size() == 3 && keys.get(0) >= 1000, "generated keys " + keys);
            }
            List<List<Object>> r = rows("SELECT n FROM " + t + " WHERE k LIKE 'batch%' ORDER BY n");
            check(r.equals(List.of(List.of(21), List.of(22), List.of(23))), "read back right after the batch: " + r);
        });
        step("batch-nokeys", () -> {
            try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + t + " (k, n) VALUES (?, ?)")) {
                for (int i = 1; i <= 3; i++) {
                    ps.setString(1, "bulk" + i);
                    ps.setInt(2, 23 + i);
                    ps.addBatch();
                }
                int[] counts = ps.executeBatch();
                check(counts.length == 3, "executeBatch counts " + Arrays.toString(counts));
            }
            List<List<Object>> r = rows("SELECT n FROM " + t + " WHERE k LIKE 'bulk%' ORDER BY n");
            check(r.equals(List.of(List.of(24), List.of(25), List.of(26))), "read back right after the batch: " + r);
        });
        step("design-savepoint", () -> {
            conn.setAutoCommit(false);
            exec("INSERT INTO " + t + " (k, n) VALUES ('sp-outer', 7)");
            try {
                conn.setSavepoint("sp1");
                throw new Failed("SAVEPOINT: no error, want 1235");
            } catch (SQLException e) {
                System.out.println("DESIGN design-savepoint: " + e.getClass().getName() + ": " + describe(e));
                check(e.getErrorCode() == 1235, "want error 1235, got " + describe(e));
            } finally {
                conn.rollback();
                conn.setAutoCommit(true);
            }
            check(nOf("sp-outer").equals("[]"), "the outer transaction's row is there");
        });
        conn.close();
        System.out.println("DONE " + env("FWD_STACK"));
        System.exit(failed ? 1 : 0);
    }
}
