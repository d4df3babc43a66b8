#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server: a temporary directory, a free port
# on 127.0.0.1, DATABASE_URL exported for the command, everything removed afterwards.
set -euo pipefail

pg_bin() {
  local name=$1
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
  ls /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin initdb)" ]; then
  echo "== installing PostgreSQL (Debian package postgresql)"
  if [ "$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  else sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; fi
fi
INITDB=$(pg_bin initdb)
PG_CTL=$(pg_bin pg_ctl)

tmp=$(mktemp -d /tmp/promptyard-pg.XXXXXX)
chmod 755 "$tmp"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home "$tmp" postgres
  chown postgres "$tmp"
fi

cleanup() {
  as_pg "'$PG_CTL' -D '$tmp/data' -m immediate stop" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

as_pg "'$INITDB' -D '$tmp/data' -U postgres -A trust -E UTF8 --no-locale" >"$tmp/initdb.log" 2>&1 \
  || { cat "$tmp/initdb.log"; exit 1; }
# Durability is pointless for a throwaway server; these settings make tests faster.
as_pg "'$PG_CTL' -D '$tmp/data' -l '$tmp/server.log' -w -o \"-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300\" start" >/dev/null \
  || { cat "$tmp/server.log"; exit 1; }

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/promptyard"
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres
as_pg "psql -h 127.0.0.1 -p $port -U postgres -q -c 'CREATE DATABASE promptyard'" >/dev/null
echo "== PostgreSQL on 127.0.0.1:$port ($tmp)"
set +e
"$@"
status=$?
exit $status
