#!/usr/bin/perl
# The stacks-matrix steps (integration/matrix_test.go) with Perl DBI and DBD::MariaDB
# (Debian: libdbd-mariadb-perl), with mariadb_server_prepare=1: every prepare is a
# COM_STMT_PREPARE on the server.
#
# Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
# the writer beforehand), FWD_STACK.
use strict;
use warnings;
use utf8;
use DBI qw(:sql_types);

binmode STDOUT, ':encoding(UTF-8)';
$| = 1;

use constant UTF8 => "ñ 😀 中文 𝄞";
use constant DEC  => '12345678.9012';
use constant DT   => '2024-02-29 12:34:56.789012';
use constant BIG  => 12000;
my $BLOB = join '', map { chr } 0 .. 255;

sub env { my $v = $ENV{ $_[0] }; defined $v or do { print "FAIL setup: missing $_[0]\n"; exit 2 }; $v }
my $t = env('FWD_TABLE');

sub connect_db {
    my $dsn = sprintf 'DBI:MariaDB:database=%s;host=%s;port=%s;mariadb_server_prepare=1',
        env('FWD_DB'), env('FWD_HOST'), env('FWD_PORT');
    DBI->connect($dsn, env('FWD_USER'), env('FWD_PASSWORD'),
        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

my $dbh = connect_db();
my $failed = 0;

sub fail_msg { my $m = shift; $m =~ s/\s+/ /g; $m =~ s/ $//; $m }

sub step {
    my ($name, $fn) = @_;
    if (eval { $fn->(); 1 }) {
        print "PASS $name\n";
        return;
    }
    $failed = 1;
    my $err = $@;
    my $code = $DBI::err // '';
    print 'FAIL ', $name, ': ', fail_msg(ref $err ? "@$err" : "$code $err"), "\n";
    $dbh = eval { connect_db() } or print "reconnect after $name failed: $@\n";
}

sub check { my ($cond, $msg) = @_; die [$msg] unless $cond }

sub n_of { [ map { $_->[0] } @{ $dbh->selectall_arrayref("SELECT n FROM $t WHERE k = ?", undef, $_[0]) } ] }

sub same { join(',', @{ $_[0] }) eq join(',', @{ $_[1] }) }

print "DBI $DBI::VERSION DBD::MariaDB $DBD::MariaDB::VERSION client ", $dbh->{mariadb_clientinfo} // '', "\n";
my $first;

step('connect', sub {
    my ($cons, $ac) = $dbh->selectrow_array('SELECT @@aurora_replica_read_consistency, @@autocommit');
    check($cons eq 'SESSION' && $ac == 1, "consistency $cons autocommit $ac");
});
step('readback', sub {
    my $n = $dbh->do("INSERT INTO $t (k, n, s) VALUES ('first', 1, 'first')");
    $first = $dbh->last_insert_id;
    check($n == 1 && $first >= 1000, "insert: $n rows, id $first");
    print "insert_id=$first\n";
    my $r = $dbh->selectrow_arrayref("SELECT n, s FROM $t WHERE id = ?", undef, $first);
    check($r, "row $first not found right after the insert");
    check($r->[0] == 1 && $r->[1] eq 'first', "read back @$r");
});
step('lastid', sub {
    $dbh->do("INSERT INTO $t (k, n) VALUES ('lastid', 9)");
    my $key = $dbh->last_insert_id;
    my ($got) = $dbh->selectrow_array('SELECT LAST_INSERT_ID()');
    check($key >= 1000 && $got == $key, "LAST_INSERT_ID() $got, generated key $key");
});
step('prepared', sub {
    my $ins = $dbh->prepare("INSERT INTO $t (k, n, s) VALUES (?, ?, 'ps')");
    my @ids;
    for ([ 'ps1', 11 ], [ 'ps2', 12 ]) {
        my $n = $ins->execute(@$_);
        check($n == 1, "prepared insert $_->[0]: $n rows");
        push @ids, $ins->last_insert_id;
    }
    check($ids[0] >= 1000 && $ids[1] > $ids[0], "generated keys @ids");
    my $lid = $dbh->prepare('SELECT LAST_INSERT_ID()');
    $lid->execute;
    my ($got) = $lid->fetchrow_array;
    check($got == $ids[1], "prepared LAST_INSERT_ID() $got, generated key $ids[1]");
    my $sel = $dbh->prepare("SELECT k FROM $t WHERE n = ?");
    $sel->execute(12);
    my $ks = [ map { $_->[0] } @{ $sel->fetchall_arrayref } ];
    check(same($ks, ['ps2']), "prepared SELECT @$ks");
});
step('commit', sub {
    $dbh->begin_work;
    $dbh->do("INSERT INTO $t (k, n) VALUES ('commit', 3)");
    check(same(n_of('commit'), [3]), 'transaction misses its insert');
    $dbh->commit;
    check(same(n_of('commit'), [3]), "committed row: @{ n_of('commit') }");
});
step('rollback', sub {
    $dbh->begin_work;
    $dbh->do("INSERT INTO $t (k, n) VALUES ('rollback', 4)");
    $dbh->rollback;
    check(same(n_of('rollback'), []), "rolled-back row visible: @{ n_of('rollback') }");
});
step('forupdate', sub {
    $dbh->do("INSERT INTO $t (k, n) VALUES ('lock', 1)");
    $dbh->begin_work;
    my ($n) = $dbh->selectrow_array("SELECT n FROM $t WHERE k = ? FOR UPDATE", undef, 'lock');
    check($n == 1, "FOR UPDATE read n=$n");
    my $rows = $dbh->do("UPDATE $t SET n = ? WHERE k = ?", undef, 2, 'lock');
    check($rows == 1, "UPDATE affected $rows");
    $dbh->commit;
    check(same(n_of('lock'), [2]), "after the update: @{ n_of('lock') }");
});
step('utf8mb4', sub {
    $dbh->do("INSERT INTO $t (k, s) VALUES (?, ?)", undef, 'utf8', UTF8);
    my ($got) = $dbh->selectrow_array("SELECT s FROM $t WHERE k = ?", undef, 'utf8');
    check($got eq UTF8, 'read back ' . ($got // 'undef'));
});
step('types', sub {
    my $ins = $dbh->prepare("INSERT INTO $t (k, n, s, d, t, b) VALUES (?, ?, ?, ?, ?, ?)");
    $ins->bind_param(1, 'types');
    $ins->bind_param(2, undef, SQL_INTEGER);
    $ins->bind_param(3, undef);
    $ins->bind_param(4, DEC, SQL_DECIMAL);
    $ins->bind_param(5, DT, SQL_DATETIME);
    $ins->bind_param(6, $BLOB, SQL_BLOB);    # bytes, not characters to encode
    $ins->execute;
    my ($n, $s, $d, $tm, $b) = $dbh->selectrow_array("SELECT n, s, d, t, b FROM $t WHERE k = ?", undef, 'types');
    check(!defined $n && !defined $s, 'NULLs read back as ' . ($n // 'undef') . ' ' . ($s // 'undef'));
    check($d eq DEC, "DECIMAL $d");
    check($tm eq DT, "DATETIME(6) $tm");
    check($b eq $BLOB, 'BLOB ' . unpack('H32', $b));
});
step('bigresult', sub {
    my $rows = $dbh->selectall_arrayref("SELECT seq, CONCAT('r', seq) FROM seq_1_to_" . BIG);
    my $sum = 0;
    for (@$rows) {
        check($_->[1] eq "r$_->[0]", "row @$_");
        $sum += $_->[0];
    }
    check(@$rows == BIG && $sum == BIG * (BIG + 1) / 2, scalar(@$rows) . " rows, sum $sum");
});
step('dupkey', sub {
    $dbh->do("INSERT INTO $t (k, n) VALUES ('dup', 5)");
    my $ok = eval { $dbh->do("INSERT INTO $t (k, n) VALUES ('dup', 55)"); 1 };
    check(!$ok, "second k='dup' inserted");
    check($dbh->err == 1062, 'want 1062, got ' . $dbh->err . ': ' . $dbh->errstr);
    $dbh->do("INSERT INTO $t (k, n) VALUES ('afterdup', 6)");
    check(same(n_of('afterdup'), [6]), "after the duplicate: @{ n_of('afterdup') }");
});
# DBI has no savepoint API; DBIx::Class's nested txn_do sends SAVEPOINT savepoint_0.
step('design-savepoint', sub {
    $dbh->begin_work;
    $dbh->do("INSERT INTO $t (k, n) VALUES ('sp-outer', 7)");
    my $ok = eval { $dbh->do('SAVEPOINT savepoint_0'); 1 };
    my ($code, $msg) = ($dbh->err, $dbh->errstr);
    $dbh->rollback;
    check(!$ok, 'SAVEPOINT: no error, want 1235');
    print "DESIGN design-savepoint: $code $msg\n";
    check($code == 1235, "want error 1235, got $code: $msg");
    check(same(n_of('sp-outer'), []), "the outer transaction's row is there");
});

print 'DONE ', env('FWD_STACK'), "\n";
exit($failed ? 1 : 0);
