// The client-matrix scenario (integration/clients_test.go) with MariaDB's own connector (npm
// mariadb), server-side prepared statements throughout (conn.execute). It negotiates MariaDB's
// metadata cache (MARIADB_CLIENT_CACHE_METADATA): a re-executed statement's result may come
// without column definitions, the connector then decoding rows with those it kept from the
// prepare or the last execute. So each prepared SELECT runs again and again, on the reader and on
// the writer (inside a forwarded transaction), and `SELECT ? AS x` with parameters of other types
// changes its columns between executes.
//
// Environment: as scenario.js (FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB FWD_TABLE FWD_STACK).
// Exits non-zero with a FAIL line on the first failure.
'use strict';

const mariadb = require('mariadb');
const { stack, connection, fail, check, rejected, thousandRows } = require('./common');

const env = process.env;
const table = env.FWD_TABLE;

// show is JSON with BigInts (BIGINT columns) as text.
const show = (v) => JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() : x));

async function main() {
  const conn = await mariadb.createConnection(connection);
  console.log('mariadb', mariadb.version, 'metadata cache', conn.info.serverPermitSkipMeta);
  check(conn.info.serverPermitSkipMeta === true, 'the metadata cache was not negotiated');

  // 1. the session consistency
  await conn.query("SET aurora_replica_read_consistency = 'SESSION'");
  let rows = await conn.query('SELECT @@aurora_replica_read_consistency AS c');
  check(rows[0].c === 'SESSION', `consistency ${rows[0].c}`);

  // 2. a forwarded INSERT and its insert id
  const res = await conn.execute(`INSERT INTO ${table} (v, s) VALUES (?, ?)`, [1, 'first']);
  const firstId = Number(res.insertId);
  check(firstId > 0 && Number(res.affectedRows) === 1, `insert: ${res.affectedRows} ${res.insertId}`);
  console.log(`insert_id=${firstId}`);
  rows = await conn.execute('SELECT LAST_INSERT_ID() AS id');
  check(Number(rows[0].id) === firstId, `LAST_INSERT_ID() ${rows[0].id} != ${firstId}`);

  // 3. read-your-write, and the same statement again and again on the reader
  const byId = `SELECT v, s FROM ${table} WHERE id = ?`;
  for (let i = 0; i < 5; i++) {
    rows = await conn.execute(byId, [firstId]);
    check(rows.length === 1 && rows[0].v === 1 && rows[0].s === 'first', `read ${i} of row ${firstId}: ${show(rows)}`);
  }

  // 4. prepared INSERT and SELECT, twice each
  const ins = `INSERT INTO ${table} (v, s) VALUES (?, ?)`;
  const sel = `SELECT s, v FROM ${table} WHERE v = ?`;
  for (const [v, s] of [[2, 'p2'], [3, 'p3']]) {
    const r = await conn.execute(ins, [v, s]);
    check(Number(r.affectedRows) === 1 && Number(r.insertId) > firstId, `prepared insert ${v}: ${r.insertId}`);
  }
  for (const [v, s] of [[2, 'p2'], [3, 'p3'], [2, 'p2'], [3, 'p3']]) {
    rows = await conn.execute(sel, [v]);
    check(rows.length === 1 && rows[0].s === s && rows[0].v === v, `prepared select ${v}: ${show(rows)}`);
  }

  // 5. COMMIT and ROLLBACK; inside them the prepared SELECTs run on the writer
  await conn.beginTransaction();
  await conn.execute(ins, [4, 'commit']);
  for (const [v, s] of [[4, 'commit'], [2, 'p2'], [4, 'commit']]) {
    rows = await conn.execute(sel, [v]);
    check(rows.length === 1 && rows[0].s === s && rows[0].v === v, `select ${v} in the transaction: ${show(rows)}`);
  }
  rows = await conn.execute(byId, [firstId]);
  check(rows.length === 1 && rows[0].s === 'first', `row ${firstId} in the transaction: ${show(rows)}`);
  await conn.commit();
  await conn.beginTransaction();
  await conn.execute(ins, [5, 'rollback']);
  await conn.rollback();
  rows = await conn.execute(sel, [5]);
  check(rows.length === 0, 'rolled-back row visible');
  for (const [v, s] of [[4, 'commit'], [3, 'p3']]) { // back on the reader
    rows = await conn.execute(sel, [v]);
    check(rows.length === 1 && rows[0].s === s && rows[0].v === v, `select ${v} after the transactions: ${show(rows)}`);
  }

  // 6. columns that change between executes: the parameter's type is the column's
  const any = 'SELECT ? AS x';
  for (const x of [5, 'five', 6, 'six', 7.5, 7.5]) {
    rows = await conn.execute(any, [x]);
    check(rows.length === 1 && rows[0].x == x && typeof rows[0].x === typeof x, `${any} with ${show(x)}: ${show(rows)}`);
  }

  // 7. a 1235 rejection, prepared and not
  await rejected([[`CREATE TABLE ${table}_x (i INT)`, (q) => conn.query(q)], [`CREATE TABLE ${table}_y (i INT)`, (q) => conn.execute(q)]]);
  rows = await conn.execute('SELECT 1 AS one');
  check(rows[0].one === 1, 'connection unusable after the rejection');

  // 8. a multi-row result, twice
  for (let i = 0; i < 2; i++) {
    thousandRows(await conn.execute("SELECT seq, CONCAT('r', seq) AS s FROM seq_1_to_1000 WHERE seq <= ?", [1000]));
  }

  await conn.end();
  console.log(`OK ${stack}`);
}

main().catch((e) => fail(`${e.code || ''} ${e.errno || ''} ${e.message}`));
