# A throwaway PostgreSQL cluster for the tests, where none answers (sourced by
# scripts/test.sh; bash). Functions:
#   pg_answers URL          true when a server at URL runs `select 1`
#   start_scratch_postgres  installs PostgreSQL if missing (apt), runs initdb in a
#                           temporary folder, starts the server on a free
#                           loopback port (trust auth, database `test`), exports
#                           PASARELA_TEST_POSTGRES_URL and PASARELA_TEST_PG_RESTART
#                           (the command that restarts it, for
#                           tests/resilience_pg_restart.rs) and stops and removes
#                           it when the shell exits.
# Try it alone:
#   bash -c 'source scripts/scratch-postgres.sh; start_scratch_postgres;
#            psql "$PASARELA_TEST_POSTGRES_URL" -c "select version()"'

pg_answers() {
  command -v psql >/dev/null 2>&1 &&
    PGCONNECT_TIMEOUT=5 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

# The newest server bin folder (Debian keeps one per major version).
_pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}

_pg_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_scratch_postgres() {
  [ -n "${_PG_SCRATCH:-}" ] || return 0
  _pg_as_owner "$_PG_BIN/pg_ctl" -D "$_PG_SCRATCH/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$_PG_SCRATCH"
  _PG_SCRATCH=""
}

start_scratch_postgres() {
  _PG_BIN=$(_pg_bindir || true)
  if [ -z "$_PG_BIN" ]; then
    echo "installing PostgreSQL (no server answers and none is installed)" >&2
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    _PG_BIN=$(_pg_bindir)
  fi
  _PG_SCRATCH=$(mktemp -d /tmp/pasarela-pg.XXXXXX)
  trap stop_scratch_postgres EXIT
  trap 'exit 130' INT TERM
  # initdb refuses to run as root: the cluster belongs to the postgres user.
  [ "$(id -u)" -eq 0 ] && chown postgres: "$_PG_SCRATCH"
  local port; port=$(_pg_free_port)
  _pg_as_owner "$_PG_BIN/initdb" -D "$_PG_SCRATCH/data" -U postgres --auth=trust \
    -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  # Throwaway data: no fsync. The socket lives in the scratch folder too.
  _pg_as_owner "$_PG_BIN/pg_ctl" -D "$_PG_SCRATCH/data" -l "$_PG_SCRATCH/server.log" -w \
    -o "-p $port -k $_PG_SCRATCH -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >/dev/null
  local psql="$_PG_BIN/psql"; [ -x "$psql" ] || psql=psql
  "$psql" "postgres://postgres@127.0.0.1:$port/postgres" -Atqc 'create database test' >/dev/null
  export PASARELA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/test"
  local owner=""; [ "$(id -u)" -eq 0 ] && owner="runuser -u postgres -- "
  export PASARELA_TEST_PG_RESTART="${owner}$_PG_BIN/pg_ctl -D $_PG_SCRATCH/data -l $_PG_SCRATCH/server.log -w -m fast restart"
  echo "scratch PostgreSQL at $PASARELA_TEST_POSTGRES_URL (data in $_PG_SCRATCH, removed at exit)" >&2
}
