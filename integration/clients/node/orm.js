// The stacks-matrix steps (integration/matrix_test.go) with Node ORMs on mysql2: Sequelize,
// knex and TypeORM (the versions package-lock.json pins).
//
// Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
// the writer beforehand), FWD_MODE sequelize | knex | typeorm-mysql | typeorm-mariadb, FWD_STACK.
// Sequelize sends statements with bind parameters through mysql2's execute (server-side
// prepared); knex and TypeORM format parameters on the client, so their prepared step uses
// text PREPARE/EXECUTE. TypeORM's "mariadb" type writes with INSERT … RETURNING.
// JavaScript's Date holds milliseconds: the types step writes DATETIME(6) as a string and
// reads its microseconds back with DATE_FORMAT.
'use strict';

const env = process.env;
const mode = env.FWD_MODE;
const table = env.FWD_TABLE;
const UTF8 = 'ñ 😀 中文 𝄞';
const DEC = '12345678.9012';
const DT = '2024-02-29 12:34:56.789012';
const BIG = 12000;
const BLOB = Buffer.from([...Array(256).keys()]);
const conn = {
  host: env.FWD_HOST, port: Number(env.FWD_PORT), user: env.FWD_USER, password: env.FWD_PASSWORD,
  database: env.FWD_DB, charset: 'utf8mb4',
};

class Failed extends Error {}
class Rollback extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failed(msg);
}

// errno finds the server error number in an ORM's error (they wrap mysql2's).
function errno(e) {
  for (let x = e; x; x = x.parent || x.original || x.driverError || x.cause) {
    if (typeof x.errno === 'number') return x.errno;
  }
  return undefined;
}

// Some packages do not export their package.json.
const version = (p) => JSON.parse(require('fs').readFileSync(`${__dirname}/node_modules/${p}/package.json`)).version;

// Each ORM: the same operations, in its own API.
function sequelizeStack() {
  const { Sequelize, DataTypes, QueryTypes } = require('sequelize');
  const seq = new Sequelize(conn.database, conn.user, conn.password, {
    host: conn.host, port: conn.port, dialect: 'mysql', logging: false, timezone: '+00:00',
    pool: { max: 1, min: 0 }, dialectOptions: { charset: conn.charset },
  });
  const cols = {
    id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
    k: DataTypes.STRING(32), n: DataTypes.INTEGER, s: DataTypes.STRING(64),
    d: DataTypes.DECIMAL(14, 4), t: DataTypes.DATE(6), b: DataTypes.BLOB,
  };
  const Row = seq.define('Row', cols, { tableName: table, timestamps: false });
  const q = (sql, bind, type = QueryTypes.SELECT) => seq.query(sql, { bind, type });
  return {
    version: `sequelize ${version('sequelize')} mysql2 ${version('mysql2')}`,
    close: () => seq.close(),
    rows: (sql) => q(sql),
    insert: async (row, transaction) => Number((await Row.create(row, { transaction })).id),
    get: async (where) => (await Row.findOne({ where }))?.get({ plain: true }),
    nOf: async (k, transaction) => (await Row.findAll({ where: { k }, transaction })).map((r) => r.n),
    tx: (f) => seq.transaction((t) => f(t)),
    rollbackTx: async (f) => { const t = await seq.transaction(); await f(t); await t.rollback(); },
    lockN: async (t, k) => (await Row.findOne({ where: { k }, lock: t.LOCK.UPDATE, transaction: t })).n,
    updateN: (t, k, n) => Row.update({ n }, { where: { k }, transaction: t }),
    nested: (t, f) => seq.transaction({ transaction: t }, (t2) => f(t2)),
    ddl: () => seq.define('Ddl', { i: DataTypes.INTEGER }, { tableName: `${table}_ddl`, timestamps: false }).sync(),
    async prepared() {
      const ids = [];
      for (const [k, n] of [['ps1', 11], ['ps2', 12]]) {
        ids.push((await q(`INSERT INTO ${table} (k, n, s) VALUES ($1, $2, 'ps')`, [k, n], QueryTypes.INSERT))[0]);
      }
      const lid = (await q('SELECT LAST_INSERT_ID() AS i', []))[0].i;
      const ks = (await q(`SELECT k FROM ${table} WHERE n = $1`, [12])).map((r) => r.k);
      return [ids, lid, ks];
    },
    typesInsert: () => q(`INSERT INTO ${table} (k, n, s, d, t, b) VALUES ('types', $1, $2, $3, $4, $5)`,
      [null, null, DEC, DT, BLOB], QueryTypes.INSERT),
  };
}

// textPrepared is the prepared step with text PREPARE/EXECUTE, for ORMs without server-side
// prepared statements; run(sql, params) runs one statement on one pinned connection.
async function textPrepared(run, insertId) {
  await run(`PREPARE fwd_ins FROM 'INSERT INTO ${table} (k, n, s) VALUES (?, ?, ''ps'')'`);
  const ids = [];
  for (const [k, n] of [['ps1', 11], ['ps2', 12]]) {
    await run('SET @k = ?, @n = ?', [k, n]);
    ids.push(insertId(await run('EXECUTE fwd_ins USING @k, @n')));
  }
  await run("PREPARE fwd_lid FROM 'SELECT LAST_INSERT_ID() AS i'");
  const lid = (await run('EXECUTE fwd_lid'))[0].i;
  await run(`PREPARE fwd_sel FROM 'SELECT k FROM ${table} WHERE n = ?'`);
  await run('SET @n = 12');
  const ks = (await run('EXECUTE fwd_sel USING @n')).map((r) => r.k);
  await run('DEALLOCATE PREPARE fwd_ins');
  return [ids, lid, ks];
}

function knexStack() {
  const knex = require('knex')({
    client: 'mysql2', connection: { ...conn, dateStrings: true }, pool: { min: 0, max: 1 },
  });
  // Without parameters knex leaves the text alone (the ? inside PREPARE's string included).
  const raw = async (sql, params, db = knex) => (await (params ? db.raw(sql, params) : db.raw(sql)))[0];
  return {
    version: `knex ${version('knex')} mysql2 ${version('mysql2')}`,
    close: () => knex.destroy(),
    rows: (sql) => raw(sql),
    insert: async (row, trx = knex) => Number((await trx(table).insert(row))[0]),
    get: (where) => knex(table).where(where).first(),
    nOf: async (k, trx = knex) => (await trx(table).where({ k }).select('n')).map((r) => r.n),
    tx: (f) => knex.transaction((trx) => f(trx)),
    rollbackTx: async (f) => {
      try {
        await knex.transaction(async (trx) => { await f(trx); throw new Rollback(); });
      } catch (e) {
        if (!(e instanceof Rollback)) throw e;
      }
    },
    lockN: async (trx, k) => (await trx(table).where({ k }).forUpdate().first()).n,
    updateN: (trx, k, n) => trx(table).where({ k }).update({ n }),
    nested: (trx, f) => trx.transaction((t2) => f(t2)),
    ddl: () => knex.schema.createTable(`${table}_ddl`, (t) => t.integer('i')),
    // The pool holds one connection: the session variables and statements stay on it.
    prepared: () => textPrepared(raw, (r) => r.insertId),
    typesInsert: () => knex(table).insert({ k: 'types', n: null, s: null, d: DEC, t: DT, b: BLOB }),
  };
}

function typeormStack(type) {
  const { DataSource, EntitySchema, Table } = require('typeorm');
  const Row = new EntitySchema({
    name: 'Row', tableName: table,
    columns: {
      id: { type: 'bigint', primary: true, generated: 'increment' },
      k: { type: 'varchar', length: 32 }, n: { type: 'int', nullable: true },
      s: { type: 'varchar', length: 64, nullable: true },
      d: { type: 'decimal', precision: 14, scale: 4, nullable: true },
      t: { type: 'datetime', precision: 6, nullable: true }, b: { type: 'blob', nullable: true },
    },
  });
  const ds = new DataSource({
    type, host: conn.host, port: conn.port, username: conn.user, password: conn.password,
    database: conn.database, charset: conn.charset, timezone: 'Z', entities: [Row], poolSize: 1, logging: false,
  });
  const repo = (m = ds.manager) => m.getRepository('Row');
  let ready;
  const init = () => (ready ??= ds.initialize());
  return {
    version: `typeorm ${version('typeorm')} (${type}) mysql2 ${version('mysql2')}`,
    init,
    close: async () => { if (ready) await ds.destroy(); },
    rows: (sql) => ds.query(sql),
    insert: async (row, m) => Number((await repo(m).save({ ...row })).id),
    get: (where) => repo().findOneBy(where),
    nOf: async (k, m) => (await repo(m).findBy({ k })).map((r) => r.n),
    tx: (f) => ds.transaction((m) => f(m)),
    rollbackTx: async (f) => {
      const qr = ds.createQueryRunner();
      await qr.startTransaction();
      try {
        await f(qr.manager);
      } finally {
        await qr.rollbackTransaction();
        await qr.release();
      }
    },
    lockN: async (m, k) => (await repo(m).findOne({ where: { k }, lock: { mode: 'pessimistic_write' } })).n,
    updateN: (m, k, n) => repo(m).update({ k }, { n }),
    // A transaction inside a transaction: TypeORM makes it a savepoint.
    nested: (m, f) => m.transaction((m2) => f(m2)),
    ddl: async () => {
      const qr = ds.createQueryRunner();
      try {
        await qr.createTable(new Table({ name: `${table}_ddl`, columns: [{ name: 'i', type: 'int' }] }));
      } finally {
        await qr.release();
      }
    },
    async prepared() {
      const qr = ds.createQueryRunner();
      try {
        return await textPrepared((sql, params) => qr.query(sql, params), (r) => r.insertId);
      } finally {
        await qr.release();
      }
    },
    typesInsert: () => ds.query(`INSERT INTO ${table} (k, n, s, d, t, b) VALUES ('types', ?, ?, ?, ?, ?)`,
      [null, null, DEC, DT, BLOB]),
  };
}

function makeStack() {
  switch (mode) {
    case 'sequelize': return sequelizeStack();
    case 'knex': return knexStack();
    case 'typeorm-mysql': return typeormStack('mysql');
    case 'typeorm-mariadb': return typeormStack('mariadb');
    default: console.log(`FAIL setup: unknown FWD_MODE ${mode}`); process.exit(2);
  }
}

let s = makeStack();
let failed = false;

async function step(name, f) {
  try {
    if (s.init) await s.init();
    await f();
    console.log(`PASS ${name}`);
  } catch (e) {
    failed = true;
    const msg = e instanceof Failed ? e.message : `${e.constructor.name} ${errno(e) ?? ''}: ${e.message}`;
    console.log(`FAIL ${name}: ${msg.split(/\s+/).join(' ')}`);
    try {
      await s.close();
    } catch (e2) {
      console.log(`close after ${name} failed: ${e2.message}`);
    }
    s = makeStack();
  }
}

async function design(name, code, f, after) {
  await step(name, async () => {
    try {
      await f();
    } catch (e) {
      if (e instanceof Failed) throw e;
      console.log(`DESIGN ${name}: ${e.constructor.name}: ${errno(e)} ${e.message}`);
      check(errno(e) === code, `want error ${code}, got ${errno(e)}: ${e.message}`);
      if (after) await after();
      return;
    }
    throw new Failed(`no error, want ${code}`);
  });
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function main() {
  console.log(s.version);
  await step('connect', async () => {
    const [r] = await s.rows('SELECT @@aurora_replica_read_consistency AS c, @@autocommit AS a');
    check(r.c === 'SESSION' && Number(r.a) === 1, `consistency ${r.c} autocommit ${r.a}`);
  });
  await step('readback', async () => {
    const id = await s.insert({ k: 'first', n: 1, s: 'first' });
    console.log(`insert_id=${id}`);
    const r = await s.get({ id });
    check(r, `row ${id} not found right after the insert`);
    check(r.n === 1 && r.s === 'first', `read back ${JSON.stringify(r)}`);
  });
  await step('lastid', async () => {
    const key = await s.insert({ k: 'lastid', n: 9 });
    const [r] = await s.rows('SELECT LAST_INSERT_ID() AS i');
    check(key >= 1000 && Number(r.i) === key, `LAST_INSERT_ID() ${r.i}, generated key ${key}`);
  });
  await step('prepared', async () => {
    const [ids, lid, ks] = await s.prepared();
    check(ids[0] >= 1000 && ids[1] > ids[0], `generated keys ${ids}`);
    check(Number(lid) === ids[1], `prepared LAST_INSERT_ID() ${lid}, generated key ${ids[1]}`);
    check(same(ks, ['ps2']), `prepared SELECT ${JSON.stringify(ks)}`);
  });
  await step('commit', async () => {
    await s.tx(async (t) => {
      await s.insert({ k: 'commit', n: 3 }, t);
      check(same(await s.nOf('commit', t), [3]), 'transaction misses its insert');
    });
    check(same(await s.nOf('commit'), [3]), `committed row: ${await s.nOf('commit')}`);
  });
  await step('rollback', async () => {
    await s.rollbackTx((t) => s.insert({ k: 'rollback', n: 4 }, t));
    check(same(await s.nOf('rollback'), []), `rolled-back row visible: ${await s.nOf('rollback')}`);
  });
  await step('forupdate', async () => {
    await s.insert({ k: 'lock', n: 1 });
    await s.tx(async (t) => {
      const n = await s.lockN(t, 'lock');
      check(n === 1, `FOR UPDATE read n=${n}`);
      await s.updateN(t, 'lock', 2);
    });
    check(same(await s.nOf('lock'), [2]), `after the update: ${await s.nOf('lock')}`);
  });
  await step('utf8mb4', async () => {
    await s.insert({ k: 'utf8', s: UTF8 });
    const r = await s.get({ k: 'utf8' });
    check(r && r.s === UTF8, `read back ${JSON.stringify(r)}`);
  });
  await step('types', async () => {
    await s.typesInsert();
    const r = await s.get({ k: 'types' });
    check(r, 'no row');
    check(r.n === null && r.s === null, `NULLs read back as ${r.n} ${r.s}`);
    check(String(r.d) === DEC, `DECIMAL ${r.d}`);
    const ms = r.t instanceof Date ? r.t.toISOString().replace('T', ' ').replace('Z', '') : String(r.t);
    check(DT.startsWith(ms), `DATETIME(6) ${ms}`);
    check(Buffer.isBuffer(r.b) && r.b.equals(BLOB), `BLOB ${r.b && r.b.toString('hex', 0, 16)}`);
    const [f] = await s.rows(`SELECT DATE_FORMAT(t, '%Y-%m-%d %H:%i:%s.%f') AS t FROM ${table} WHERE k = 'types'`);
    check(f.t === DT, `DATETIME(6) microseconds ${f.t}`);
  });
  await step('bigresult', async () => {
    const rows = await s.rows(`SELECT seq, CONCAT('r', seq) AS s FROM seq_1_to_${BIG}`);
    let sum = 0;
    for (const r of rows) {
      check(r.s === `r${r.seq}`, `row ${JSON.stringify(r)}`);
      sum += Number(r.seq);
    }
    check(rows.length === BIG && sum === (BIG * (BIG + 1)) / 2, `${rows.length} rows, sum ${sum}`);
  });
  await step('dupkey', async () => {
    await s.insert({ k: 'dup', n: 5 });
    let err;
    try {
      await s.insert({ k: 'dup', n: 55 });
    } catch (e) {
      err = e;
    }
    check(err, "second k='dup' inserted");
    check(errno(err) === 1062, `want 1062, got ${errno(err)}: ${err.message}`);
    await s.insert({ k: 'afterdup', n: 6 });
    check(same(await s.nOf('afterdup'), [6]), `after the duplicate: ${await s.nOf('afterdup')}`);
  });
  await design('design-savepoint', 1235, () => s.tx(async (t) => {
    await s.insert({ k: 'sp-outer', n: 7 }, t);
    await s.nested(t, (t2) => s.insert({ k: 'sp-inner', n: 8 }, t2));
  }), async () => check(same(await s.nOf('sp-outer'), []), "the outer transaction's row is there"));
  await design('design-ddl', 1235, () => s.ddl());
  await s.close();
  console.log(`DONE ${env.FWD_STACK}`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.log(`FAIL main: ${e.stack}`);
  process.exit(1);
});
