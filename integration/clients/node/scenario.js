// The client-matrix scenario (integration/clients_test.go) with mysql2.
//
// Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
// the writer beforehand), FWD_MODE query | execute (execute = server-side prepared statements for
// every parameterised statement and the multi-row SELECT), FWD_STACK (name in the "OK" line).
// Exits non-zero with a FAIL line on the first failure.
'use strict';

const mysql = require('mysql2/promise');
const { stack, connection, fail, check, rejected, thousandRows } = require('./common');

const env = process.env;
const mode = env.FWD_MODE || 'query';
const table = env.FWD_TABLE;

async function main() {
  if (mode !== 'query' && mode !== 'execute') fail(`unknown FWD_MODE ${mode}`);
  const conn = await mysql.createConnection(connection);
  console.log('mysql2', require('mysql2/package.json').version, 'mode', mode);
  // run: the statement API under test for parameterised statements.
  const run = (sql, params) => (mode === 'execute' ? conn.execute(sql, params) : conn.query(sql, params));

  // 1. the session consistency
  await conn.query("SET aurora_replica_read_consistency = 'SESSION'");
  let [rows] = await conn.query('SELECT @@aurora_replica_read_consistency AS c');
  check(rows[0].c === 'SESSION', `consistency ${rows[0].c}`);

  // 2. a forwarded INSERT and its insert id
  const [res] = await conn.query(`INSERT INTO ${table} (v, s) VALUES (1, 'first')`);
  const firstId = res.insertId;
  check(firstId > 0 && res.affectedRows === 1, `insert: ${JSON.stringify(res)}`);
  console.log(`insert_id=${firstId}`);
  [rows] = await conn.query('SELECT LAST_INSERT_ID() AS id');
  check(Number(rows[0].id) === firstId, `LAST_INSERT_ID() ${rows[0].id} != ${firstId}`);

  // 3. read-your-write
  [rows] = await run(`SELECT v, s FROM ${table} WHERE id = ?`, [firstId]);
  check(rows.length === 1, `read-your-write: row ${firstId} not found`);
  check(rows[0].v === 1 && rows[0].s === 'first', `read-your-write: ${JSON.stringify(rows)}`);

  // 4. prepared INSERT and SELECT, twice each
  const ins = `INSERT INTO ${table} (v, s) VALUES (?, ?)`;
  const sel = `SELECT s FROM ${table} WHERE v = ?`;
  for (const [v, s] of [[2, 'p2'], [3, 'p3']]) {
    const [r] = await run(ins, [v, s]);
    check(r.affectedRows === 1 && r.insertId > firstId, `prepared insert ${v}: ${JSON.stringify(r)}`);
  }
  for (const [v, s] of [[2, 'p2'], [3, 'p3']]) {
    [rows] = await run(sel, [v]);
    check(rows.length === 1 && rows[0].s === s, `prepared select ${v}: ${JSON.stringify(rows)}`);
  }

  // 5. COMMIT and ROLLBACK
  await conn.beginTransaction();
  await run(ins, [4, 'commit']);
  [rows] = await run(sel, [4]);
  check(rows.length === 1, 'transaction does not see its own insert');
  await conn.commit();
  await conn.beginTransaction();
  await run(ins, [5, 'rollback']);
  await conn.rollback();
  [rows] = await run(sel, [5]);
  check(rows.length === 0, 'rolled-back row visible');
  [rows] = await run(sel, [4]);
  check(rows.length === 1, 'committed row not visible');

  // 6. a 1235 rejection (prepared too in execute mode)
  const ddls = [[`CREATE TABLE ${table}_x (i INT)`, (q) => conn.query(q)]];
  if (mode === 'execute') ddls.push([`CREATE TABLE ${table}_y (i INT)`, (q) => conn.execute(q)]);
  await rejected(ddls);
  [rows] = await conn.query('SELECT 1 AS one');
  check(rows[0].one === 1, 'connection unusable after the rejection');

  // 7. a multi-row result
  [rows] = await run("SELECT seq, CONCAT('r', seq) AS s FROM seq_1_to_1000 WHERE seq <= ?", [1000]);
  thousandRows(rows);

  await conn.end();
  console.log(`OK ${stack}`);
}

main().catch((e) => fail(`${e.code || ''} ${e.errno || ''} ${e.message}`));
