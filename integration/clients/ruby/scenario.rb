# The stacks-matrix steps (integration/matrix_test.go) with Ruby's mysql2 under Sequel or
# ActiveRecord (Debian: ruby-mysql2, ruby-sequel, ruby-activerecord).
#
# Environment: FWD_HOST FWD_PORT FWD_USER FWD_PASSWORD FWD_DB (the proxy), FWD_TABLE (created on
# the writer beforehand), FWD_MODE sequel | activerecord, FWD_STACK.
# Both use mysql2's server-side prepared statements where the step says prepared: Sequel's
# Dataset#prepare, ActiveRecord with prepared_statements: true.
require 'bigdecimal'

UTF8 = "ñ 😀 中文 𝄞"
DEC = '12345678.9012'
DT = '2024-02-29 12:34:56.789012'
BLOB = (0..255).map(&:chr).join.b
BIG = 12_000
TIME = Time.utc(2024, 2, 29, 12, 34, Rational(56_789_012, 1_000_000))

class Failed < StandardError; end

def check(cond, msg)
  raise Failed, msg unless cond
end

def env(k)
  ENV.fetch(k) { puts "FAIL setup: missing #{k}"; exit 2 }
end

# The server error number somewhere in e's chain (Sequel wraps, ActiveRecord sets cause).
def errno(e)
  while e
    return e.error_number if e.respond_to?(:error_number)
    e = e.respond_to?(:wrapped_exception) && e.wrapped_exception ? e.wrapped_exception : e.cause
  end
  nil
end

MODE = env('FWD_MODE')
T = env('FWD_TABLE')
CONN = { host: env('FWD_HOST'), port: env('FWD_PORT').to_i, username: env('FWD_USER'),
         password: env('FWD_PASSWORD'), database: env('FWD_DB'), encoding: 'utf8mb4' }.freeze
$failed = false

def step(name)
  yield
  puts "PASS #{name}"
rescue StandardError => e
  $failed = true
  msg = e.is_a?(Failed) ? e.message : "#{e.class} #{errno(e)}: #{e.message}"
  puts "FAIL #{name}: #{msg.split.join(' ')}"
  begin
    $stack.reconnect
  rescue StandardError => e2
    puts "reconnect after #{name} failed: #{e2.message}"
  end
ensure
  $stdout.flush
end

def design(name, code, after = nil)
  step(name) do
    begin
      yield
    rescue Failed
      raise
    rescue StandardError => e
      puts "DESIGN #{name}: #{e.class}: #{errno(e)} #{e.message}"
      check(errno(e) == code, "want error #{code}, got #{errno(e)}: #{e.message}")
      after&.call
      next
    end
    raise Failed, "no error, want #{code}"
  end
end

# The steps that differ: one class per ORM, the same method names.
class SequelStack
  def initialize
    require 'sequel'
    # fractional_seconds: Sequel drops DATETIME(6)'s microseconds otherwise.
    @db = Sequel.connect(CONN.merge(adapter: 'mysql2', user: CONN[:username], max_connections: 1,
                                    fractional_seconds: true))
    @ds = @db[T.to_sym]
    puts "sequel #{Sequel::VERSION} mysql2 #{Mysql2::VERSION}"
  end

  def reconnect = @db.disconnect
  def value(sql) = @db.fetch(sql).first.values.first
  def rows(sql) = @db.fetch(sql).map(&:values)
  def n_of(k) = @ds.where(k: k).select_map(:n)
  def insert(**row) = @ds.insert(row.merge(row[:b] ? { b: Sequel.blob(row[:b]) } : {}))
  def get(k) = @ds.where(k: k).first
  def by_id(id) = @ds.where(id: id).first
  def transaction(savepoint: false, &blk) = @db.transaction(savepoint: savepoint, &blk)
  def rollback! = raise(Sequel::Rollback)
  def lock_n(k) = @ds.where(k: k).for_update.first[:n]
  def update_n(k, n) = @ds.where(k: k).update(n: n)
  def create_table(name) = @db.create_table(name.to_sym) { Integer :i }

  def prepared
    ins = @ds.prepare(:insert, :fwd_ins, k: :$k, n: :$n, s: 'ps')
    ids = [ins.call(k: 'ps1', n: 11), ins.call(k: 'ps2', n: 12)]
    lid = @db['SELECT LAST_INSERT_ID() AS i'].prepare(:first, :fwd_lid).call[:i]
    ks = @ds.where(n: :$n).select(:k).prepare(:select, :fwd_sel).call(n: 12).map { |r| r[:k] }
    [ids, lid, ks]
  end
end

class ActiveRecordStack
  def initialize
    require 'active_record'
    ActiveRecord::Base.establish_connection(CONN.merge(adapter: 'mysql2', pool: 1, prepared_statements: true))
    @row = Class.new(ActiveRecord::Base) { self.table_name = T }
    @c = @row.connection
    puts "activerecord #{ActiveRecord::VERSION::STRING} mysql2 #{Mysql2::VERSION}"
  end

  def reconnect = @c.reconnect!
  def value(sql) = @c.select_value(sql)
  def rows(sql) = @c.select_rows(sql)
  def n_of(k) = @row.where(k: k).pluck(:n)
  def insert(**row) = @row.create!(**row).id
  def get(k) = @row.find_by(k: k)&.attributes&.transform_keys(&:to_sym)
  def by_id(id) = @row.find_by(id: id)&.attributes&.transform_keys(&:to_sym)
  def transaction(savepoint: false, &blk) = @row.transaction(requires_new: savepoint, &blk)
  def rollback! = raise(ActiveRecord::Rollback)
  def lock_n(k) = @row.lock.find_by!(k: k).n
  def update_n(k, n) = @row.find_by!(k: k).update!(n: n)
  def create_table(name) = @c.create_table(name) { |t| t.integer :i }

  # create! and where(...) bind their values: mysql2 prepared statements. The LAST_INSERT_ID()
  # has no value to bind, so it is prepared on the raw client.
  def prepared
    ids = [['ps1', 11], ['ps2', 12]].map { |k, n| @row.create!(k: k, n: n, s: 'ps').id }
    lid = @c.raw_connection.prepare('SELECT LAST_INSERT_ID()').execute(as: :array).first.first
    [ids, lid, @row.where(n: 12).pluck(:k)]
  end
end

$stack = case MODE
         when 'sequel' then SequelStack.new
         when 'activerecord' then ActiveRecordStack.new
         else puts "FAIL setup: unknown FWD_MODE #{MODE}"; exit 2
         end
s = $stack
first = nil

step('connect') do
  cons, ac = s.rows('SELECT @@aurora_replica_read_consistency, @@autocommit').first
  check(cons == 'SESSION' && ac.to_i == 1, "consistency #{cons} autocommit #{ac}")
end
step('readback') do
  first = s.insert(k: 'first', n: 1, s: 'first')
  puts "insert_id=#{first}"
  r = s.by_id(first)
  check(r, "row #{first} not found right after the insert")
  check(r[:n] == 1 && r[:s] == 'first', "read back #{r.inspect}")
end
step('lastid') do
  key = s.insert(k: 'lastid', n: 9)
  got = s.value('SELECT LAST_INSERT_ID()')
  check(key.to_i >= 1000 && got.to_i == key, "LAST_INSERT_ID() #{got}, generated key #{key}")
end
step('prepared') do
  ids, lid, ks = s.prepared
  check(ids[0].to_i >= 1000 && ids[1].to_i > ids[0].to_i, "generated keys #{ids}")
  check(lid.to_i == ids[1], "prepared LAST_INSERT_ID() #{lid}, generated key #{ids[1]}")
  check(ks == ['ps2'], "prepared SELECT #{ks}")
end
step('commit') do
  s.transaction do
    s.insert(k: 'commit', n: 3)
    check(s.n_of('commit') == [3], 'transaction misses its insert')
  end
  check(s.n_of('commit') == [3], "committed row: #{s.n_of('commit')}")
end
step('rollback') do
  s.transaction do
    s.insert(k: 'rollback', n: 4)
    s.rollback!
  end
  check(s.n_of('rollback') == [], "rolled-back row visible: #{s.n_of('rollback')}")
end
step('forupdate') do
  s.insert(k: 'lock', n: 1)
  s.transaction do
    n = s.lock_n('lock')
    check(n == 1, "FOR UPDATE read n=#{n}")
    s.update_n('lock', 2)
  end
  check(s.n_of('lock') == [2], "after the update: #{s.n_of('lock')}")
end
step('utf8mb4') do
  s.insert(k: 'utf8', s: UTF8)
  got = s.get('utf8')[:s]
  check(got == UTF8, "read back #{got.inspect}")
end
step('types') do
  s.insert(k: 'types', n: nil, s: nil, d: BigDecimal(DEC), t: TIME, b: BLOB)
  r = s.get('types')
  check(r[:n].nil? && r[:s].nil?, "NULLs read back as #{r[:n].inspect} #{r[:s].inspect}")
  check(r[:d] == BigDecimal(DEC), "DECIMAL #{r[:d].inspect}")
  check(r[:t].strftime('%Y-%m-%d %H:%M:%S.%6N') == DT, "DATETIME(6) #{r[:t].inspect}")
  check(r[:b].b == BLOB, "BLOB #{r[:b].b[0, 16].inspect}")
end
step('bigresult') do
  rows = s.rows("SELECT seq, CONCAT('r', seq) FROM seq_1_to_#{BIG}")
  rows.each { |seq, str| check(str == "r#{seq}", "row #{seq} #{str}") }
  sum = rows.sum { |seq, _| seq.to_i }
  check(rows.size == BIG && sum == BIG * (BIG + 1) / 2, "#{rows.size} rows, sum #{sum}")
end
step('dupkey') do
  s.insert(k: 'dup', n: 5)
  begin
    s.insert(k: 'dup', n: 55)
    raise Failed, "second k='dup' inserted"
  rescue Failed
    raise
  rescue StandardError => e
    check(errno(e) == 1062, "want 1062, got #{errno(e)}: #{e.message}")
  end
  s.insert(k: 'afterdup', n: 6)
  check(s.n_of('afterdup') == [6], "after the duplicate: #{s.n_of('afterdup')}")
end
design('design-savepoint', 1235, -> { check(s.n_of('sp-outer') == [], "the outer transaction's row is there") }) do
  s.transaction do
    s.insert(k: 'sp-outer', n: 7)
    s.transaction(savepoint: true) { s.insert(k: 'sp-inner', n: 8) }
  end
end
step('design-nosavepoint') do
  s.transaction do
    s.insert(k: 'nosp-outer', n: 31)
    s.transaction { s.insert(k: 'nosp-inner', n: 32) }
  end
end
design('design-ddl', 1235) { s.create_table("#{T}_ddl") }

puts "DONE #{env('FWD_STACK')}"
exit($failed ? 1 : 0)
