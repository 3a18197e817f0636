// What the client-matrix scripts (scenario.js with mysql2, mariadb.js with MariaDB's connector)
// share: the FAIL line, and the checks of steps that read the same in both.
'use strict';

const env = process.env;
const stack = env.FWD_STACK || 'node';

// connection is the proxy's address and account (FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB).
const connection = {
  host: env.FWD_HOST,
  port: Number(env.FWD_PORT),
  user: env.FWD_USER,
  password: env.FWD_PASSWORD,
  database: env.FWD_DB,
  charset: 'utf8mb4',
};

function fail(msg) {
  console.log(`FAIL ${stack}: ${msg}`);
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

// rejected runs each [statement, how it is sent] and wants 1235 for it (a CREATE TABLE the proxy
// refuses in a forwarding session).
async function rejected(statements) {
  for (const [q, f] of statements) {
    try {
      await f(q);
      fail(`${q} succeeded`);
    } catch (e) {
      check(e.errno === 1235, `${q}: want 1235, got ${e.errno} ${e.message}`);
      console.log('rejected', e.errno, e.message);
    }
  }
}

// thousandRows checks the result of the multi-row SELECT over seq_1_to_1000.
function thousandRows(rows) {
  let sum = 0;
  for (const r of rows) {
    check(r.s === `r${r.seq}`, `row ${r.seq} ${r.s}`);
    sum += Number(r.seq);
  }
  check(rows.length === 1000 && sum === 500500, `multi-row: ${rows.length} rows, sum ${sum}`);
  console.log(`rows=${rows.length} sum=${sum}`);
}

module.exports = { stack, connection, fail, check, rejected, thousandRows };
