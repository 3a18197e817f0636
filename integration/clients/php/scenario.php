<?php
// The stacks-matrix steps (integration/matrix_test.go) with PHP's mysqlnd: mysqli, and PDO with
// native or emulated prepares.
//
// Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
// the writer beforehand), FWD_MODE mysqli | pdo-native | pdo-emulated, FWD_STACK.
// pdo-emulated (PDO::ATTR_EMULATE_PREPARES true, PDO's default) interpolates parameters on the
// client, so its "prepared" step sends text; the others use COM_STMT_PREPARE/EXECUTE.

const UTF8 = "ñ 😀 中文 𝄞";
const DEC = "12345678.9012";
const DT = "2024-02-29 12:34:56.789012";
const BIG = 12000;

class Failed extends Exception {}

function check($cond, $msg) { if (!$cond) throw new Failed($msg); }

function env($k) {
    $v = getenv($k);
    if ($v === false) { echo "FAIL setup: missing $k\n"; exit(2); }
    return $v;
}

$mode = env('FWD_MODE');
$t = env('FWD_TABLE');
$blob = '';
for ($i = 0; $i < 256; $i++) $blob .= chr($i);

// Db hides the difference between mysqli and PDO for the steps.
interface Db {
    function exec(string $sql): array;                 // [affected rows, insert id]
    function rows(string $sql, array $params = []): array; // rows as lists; prepared when $params
    function prep(string $sql): Closure;                // fn(...$params) => [affected, insert id, rows]
    function begin(); function commit(); function rollback();
    function savepoint();
}

function errcode(Throwable $e) {
    if ($e instanceof PDOException) return $e->errorInfo[1] ?? $e->getCode();
    return $e->getCode();
}

class MysqliDb implements Db {
    public $m;
    function __construct() {
        mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
        $this->m = new mysqli(env('FWD_HOST'), env('FWD_USER'), env('FWD_PASSWORD'), env('FWD_DB'), (int)env('FWD_PORT'));
        $this->m->set_charset('utf8mb4');
    }
    function exec(string $sql): array { $this->m->query($sql); return [$this->m->affected_rows, $this->m->insert_id]; }
    function rows(string $sql, array $params = []): array {
        if (!$params) return $this->m->query($sql)->fetch_all(MYSQLI_NUM);
        return ($this->prep($sql))(...$params)[2];
    }
    function prep(string $sql): Closure {
        $st = $this->m->prepare($sql);
        return function (...$params) use ($st) {
            if ($params) $st->bind_param(str_repeat('s', count($params)), ...$params);
            $st->execute();
            $res = $st->get_result();
            return [$st->affected_rows, $st->insert_id, $res ? $res->fetch_all(MYSQLI_NUM) : []];
        };
    }
    function begin() { $this->m->begin_transaction(); }
    function commit() { $this->m->commit(); }
    function rollback() { $this->m->rollback(); }
    // mysqli::savepoint() reports a failure by returning false, even in strict mode.
    function savepoint() {
        if (!$this->m->savepoint('sp1')) throw new mysqli_sql_exception($this->m->error, $this->m->errno);
    }
}

class PdoDb implements Db {
    public $p;
    function __construct(bool $emulate) {
        $this->p = new PDO('mysql:host=' . env('FWD_HOST') . ';port=' . env('FWD_PORT') . ';dbname=' . env('FWD_DB') . ';charset=utf8mb4',
            env('FWD_USER'), env('FWD_PASSWORD'),
            [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_EMULATE_PREPARES => $emulate]);
    }
    function exec(string $sql): array { $n = $this->p->exec($sql); return [$n, (int)$this->p->lastInsertId()]; }
    function rows(string $sql, array $params = []): array {
        if (!$params) return $this->p->query($sql)->fetchAll(PDO::FETCH_NUM);
        return ($this->prep($sql))(...$params)[2];
    }
    function prep(string $sql): Closure {
        $st = $this->p->prepare($sql);
        return function (...$params) use ($st) {
            foreach ($params as $i => $v) $st->bindValue($i + 1, $v, $v === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
            $st->execute();
            $rows = $st->columnCount() ? $st->fetchAll(PDO::FETCH_NUM) : [];
            return [$st->rowCount(), (int)$this->p->lastInsertId(), $rows];
        };
    }
    function begin() { $this->p->beginTransaction(); }
    function commit() { $this->p->commit(); }
    function rollback() { $this->p->rollBack(); }
    // Laravel's nested transactions: SAVEPOINT trans2.
    function savepoint() { $this->p->exec('SAVEPOINT trans2'); }
}

function connect(): Db {
    global $mode;
    switch ($mode) {
    case 'mysqli': return new MysqliDb();
    case 'pdo-native': return new PdoDb(false);
    case 'pdo-emulated': return new PdoDb(true);
    }
    echo "FAIL setup: unknown FWD_MODE $mode\n";
    exit(2);
}

$db = connect();
$failed = false;

function step($name, $fn) {
    global $db, $failed;
    try {
        $fn($db);
        echo "PASS $name\n";
    } catch (Throwable $e) {
        $failed = true;
        $msg = $e instanceof Failed ? $e->getMessage() : get_class($e) . ' ' . errcode($e) . ': ' . $e->getMessage();
        echo "FAIL $name: " . preg_replace('/\s+/', ' ', $msg) . "\n";
        try { $db = connect(); } catch (Throwable $e2) { echo "reconnect after $name failed: {$e2->getMessage()}\n"; }
    }
}

function design($name, $code, $fn, $after = null) {
    step($name, function ($db) use ($name, $code, $fn, $after) {
        try {
            $fn($db);
        } catch (Failed $e) {
            throw $e;
        } catch (Throwable $e) {
            echo "DESIGN $name: " . get_class($e) . ': ' . errcode($e) . ' ' . $e->getMessage() . "\n";
            check(errcode($e) == $code, "want error $code, got " . errcode($e) . ': ' . $e->getMessage());
            if ($after) $after($db);
            return;
        }
        throw new Failed("no error, want $code");
    });
}

function n_of(Db $db, $k) { return array_map(fn($r) => (int)$r[0], $db->rows("SELECT n FROM {$GLOBALS['t']} WHERE k = '$k'")); }

echo 'php ', PHP_VERSION, ' mode ', $mode, ' client ', mysqli_get_client_info(), "\n";

step('connect', function (Db $db) {
    [[$cons, $ac]] = $db->rows('SELECT @@aurora_replica_read_consistency, @@autocommit');
    check($cons === 'SESSION' && (int)$ac === 1, "consistency $cons autocommit $ac");
});
step('readback', function (Db $db) use ($t) {
    [$n, $id] = $db->exec("INSERT INTO $t (k, n, s) VALUES ('first', 1, 'first')");
    check($n == 1 && $id >= 1000, "insert: $n rows, id $id");
    echo "insert_id=$id\n";
    $rows = $db->rows("SELECT n, s FROM $t WHERE id = $id");
    check(count($rows) == 1, "row $id not found right after the insert");
    check($rows[0][0] == 1 && $rows[0][1] === 'first', 'read back ' . json_encode($rows));
});
step('lastid', function (Db $db) use ($t) {
    [, $key] = $db->exec("INSERT INTO $t (k, n) VALUES ('lastid', 9)");
    $got = $db->rows('SELECT LAST_INSERT_ID()')[0][0];
    check($key >= 1000 && $got == $key, "LAST_INSERT_ID() $got, generated key $key");
});
step('prepared', function (Db $db) use ($t) {
    $ins = $db->prep("INSERT INTO $t (k, n, s) VALUES (?, ?, 'ps')");
    $ids = [];
    foreach ([['ps1', 11], ['ps2', 12]] as [$k, $n]) {
        [$count, $id] = $ins($k, $n);
        check($count == 1, "prepared insert $k: $count rows");
        $ids[] = $id;
    }
    check($ids[0] >= 1000 && $ids[1] > $ids[0], 'generated keys ' . json_encode($ids));
    $got = ($db->prep('SELECT LAST_INSERT_ID()'))()[2][0][0];
    check($got == $ids[1], "prepared LAST_INSERT_ID() $got, generated key $ids[1]");
    $rows = ($db->prep("SELECT k FROM $t WHERE n = ?"))(12)[2];
    check($rows == [['ps2']], 'prepared SELECT ' . json_encode($rows));
});
step('commit', function (Db $db) use ($t) {
    $db->begin();
    $db->exec("INSERT INTO $t (k, n) VALUES ('commit', 3)");
    check(n_of($db, 'commit') == [3], 'transaction misses its insert');
    $db->commit();
    check(n_of($db, 'commit') == [3], 'committed row: ' . json_encode(n_of($db, 'commit')));
});
step('rollback', function (Db $db) use ($t) {
    $db->begin();
    $db->exec("INSERT INTO $t (k, n) VALUES ('rollback', 4)");
    $db->rollback();
    check(n_of($db, 'rollback') == [], 'rolled-back row visible');
});
step('forupdate', function (Db $db) use ($t) {
    $db->exec("INSERT INTO $t (k, n) VALUES ('lock', 1)");
    $db->begin();
    $rows = $db->rows("SELECT n FROM $t WHERE k = ? FOR UPDATE", ['lock']);
    check($rows == [[1]] || $rows == [['1']], 'FOR UPDATE read ' . json_encode($rows));
    [$n] = $db->exec("UPDATE $t SET n = 2 WHERE k = 'lock'");
    check($n == 1, "UPDATE affected $n");
    $db->commit();
    check(n_of($db, 'lock') == [2], 'after the update: ' . json_encode(n_of($db, 'lock')));
});
step('utf8mb4', function (Db $db) use ($t) {
    ($db->prep("INSERT INTO $t (k, s) VALUES (?, ?)"))('utf8', UTF8);
    $got = $db->rows("SELECT s FROM $t WHERE k = ?", ['utf8']);
    check($got == [[UTF8]], 'read back ' . json_encode($got));
});
step('types', function (Db $db) use ($t, $blob) {
    ($db->prep("INSERT INTO $t (k, n, s, d, t, b) VALUES (?, ?, ?, ?, ?, ?)"))('types', null, null, DEC, DT, $blob);
    foreach (['text' => $db->rows("SELECT n, s, d, t, b FROM $t WHERE k = 'types'"),
              'prepared' => $db->rows("SELECT n, s, d, t, b FROM $t WHERE k = ?", ['types'])] as $how => $rows) {
        check(count($rows) == 1, "$how: no row");
        [$n, $s, $d, $tm, $b] = $rows[0];
        check($n === null && $s === null, "$how: NULLs read back as " . json_encode([$n, $s]));
        check((string)$d === DEC, "$how: DECIMAL $d");
        check((string)$tm === DT, "$how: DATETIME(6) $tm");
        check($b === $GLOBALS['blob'], "$how: BLOB " . bin2hex(substr((string)$b, 0, 16)));
    }
});
step('bigresult', function (Db $db) {
    $rows = $db->rows("SELECT seq, CONCAT('r', seq) FROM seq_1_to_" . BIG);
    $sum = 0;
    foreach ($rows as [$seq, $s]) {
        check($s === "r$seq", "row $seq $s");
        $sum += $seq;
    }
    check(count($rows) == BIG && $sum == BIG * (BIG + 1) / 2, count($rows) . " rows, sum $sum");
});
step('dupkey', function (Db $db) use ($t) {
    $db->exec("INSERT INTO $t (k, n) VALUES ('dup', 5)");
    try {
        $db->exec("INSERT INTO $t (k, n) VALUES ('dup', 55)");
        throw new Failed("second k='dup' inserted");
    } catch (Failed $e) {
        throw $e;
    } catch (Throwable $e) {
        check(errcode($e) == 1062, 'want 1062, got ' . errcode($e) . ': ' . $e->getMessage());
    }
    $db->exec("INSERT INTO $t (k, n) VALUES ('afterdup', 6)");
    check(n_of($db, 'afterdup') == [6], 'after the duplicate: ' . json_encode(n_of($db, 'afterdup')));
});
design('design-savepoint', 1235, function (Db $db) use ($t) {
    $db->begin();
    try {
        $db->exec("INSERT INTO $t (k, n) VALUES ('sp-outer', 7)");
        $db->savepoint();
    } finally {
        $db->rollback();
    }
}, function (Db $db) {
    check(n_of($db, 'sp-outer') == [], "the outer transaction's row is there");
});

echo "DONE " . env('FWD_STACK') . "\n";
exit($failed ? 1 : 0);
