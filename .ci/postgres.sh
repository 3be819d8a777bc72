#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the distributed tests and print the
# SQLAlchemy URL to use.  Usage:  eval "$(bash .ci/postgres.sh start DIR)"  ...  bash .ci/postgres.sh stop DIR
# Installs Debian's postgresql package when no server binaries are found (needs root, as in CI).
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?data folder}
port=${METAHPO_PG_PORT:-54329}

find_bin() {
  local b
  for b in /usr/lib/postgresql/*/bin; do
    if [ -x "$b/pg_ctl" ]; then echo "$b"; return 0; fi
  done
  return 1
}

as_pg() {  # initdb and the server refuse to run as root
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    if ! bin=$(find_bin); then
      echo "installing postgresql from Debian's packages" >&2
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      bin=$(find_bin)
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$dir/initdb.log" 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=100" start >&2
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres metahpo_test >&2
    echo "export METAHPO_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/metahpo_test"
    ;;
  stop)
    bin=$(find_bin)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
