#!/usr/bin/env bash
# CDR shipping cost: a FreePBX-layout `cdr` table in the local MariaDB filled with ROWS rows (the 76
# captured rows repeated with shifted calldates and uniqueids over the last DAYS days), shipped from
# scratch into a fresh outbox by the release build. Prints the backfill rate, one steady-state poll
# (ROWS/DAYS/6 rows in the 4 h late window) and the peak RSS (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-200000}
DAYS=${DAYS:-30}
DB=centinela_bench_cdr
FIX=../shared/fixtures/asterisk/cdr
cargo build --release -q -p centinela-bench
mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
{
  sed '$d' "$FIX/cdr-show-create-table.sql"; echo ';'
  grep '^INSERT INTO' "$FIX/cdr-dump.sql" | sed 's/INSERT INTO `cdr`/INSERT INTO `cdr_seed`/'
} | sed '0,/CREATE TABLE `cdr`/s//CREATE TABLE `cdr_seed`/' | mariadb -h127.0.0.1 -uroot "$DB"
mariadb -h127.0.0.1 -uroot "$DB" < <(sed '$d' "$FIX/cdr-show-create-table.sql"; echo ';')
REPEAT=$(( (ROWS + 75) / 76 ))
mariadb -h127.0.0.1 -uroot "$DB" -e "
  CREATE TABLE n (i int PRIMARY KEY);
  INSERT INTO n SELECT seq FROM seq_0_to_$((REPEAT - 1));
  INSERT INTO cdr SELECT NOW() - INTERVAL ($DAYS * 86400 * n.i DIV $REPEAT) SECOND, clid, src, dst, dcontext,
    channel, dstchannel, lastapp, lastdata, duration, billsec, disposition, amaflags, accountcode,
    CONCAT(uniqueid, '.', n.i), userfield, did, recordingfile, cnum, cnam, outbound_cnum, outbound_cnam,
    dst_cnam, CONCAT(linkedid, '.', n.i), peeraccount, sequence FROM cdr_seed CROSS JOIN n;"
echo "rows: $(mariadb -h127.0.0.1 -uroot -N "$DB" -e 'SELECT count(*) FROM cdr')"
STATE=$(mktemp -d)
/usr/bin/time -f "peak RSS %M KiB, %e s wall, %U s user" \
  target/release/centinela-bench cdr-ship "mysql://root@127.0.0.1:3306/$DB" "$STATE"
rm -rf "$STATE"
mariadb -h127.0.0.1 -uroot -e "DROP DATABASE $DB"
