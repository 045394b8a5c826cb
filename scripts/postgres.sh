#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests and benchmarks: a new cluster in a temporary directory,
# run by an unprivileged user, listening on loopback only.
#
#   eval "$(scripts/postgres.sh start)"   starts it; exports AGENTS_TEST_POSTGRES_URL (postgres://…)
#                                         and AGENTS_TEST_POSTGRES_DIR (its directory)
#   scripts/postgres.sh stop DIR          stops the server in DIR (by its pid file) and removes DIR
#   scripts/postgres.sh pause DIR         stops the server in DIR, keeping it (a database that goes away)
#   scripts/postgres.sh resume DIR        starts the paused server in DIR again, on the same port
#
# Installs Debian's postgresql when it is missing and this runs as root. The server runs as the
# invoking user, or as `nobody` when that is root (PostgreSQL refuses to run as root).
set -euo pipefail

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x $dir/initdb ]] && { echo "$dir"; return; }
  done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  return 1
}

as_server_user() {
  if [[ $(id -u) == 0 ]]; then runuser -u nobody -- "$@"; else "$@"; fi
}

case ${1:-} in
start)
  if ! bin=$(find_bin); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "installing postgresql" >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
      bin=$(find_bin)
    else
      echo "PostgreSQL not found (apt-get install postgresql)" >&2
      exit 1
    fi
  fi
  dir=$(mktemp -d /tmp/agents-postgres.XXXXXX)
  chmod 755 "$dir"
  [[ $(id -u) == 0 ]] && chown nobody "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_server_user "$bin/initdb" -D "$dir/data" -U agents -A trust --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync stays on: the durability tests measure what production would do.
  echo "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" > "$dir/options"
  as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  as_server_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U agents agents
  echo "export AGENTS_TEST_POSTGRES_URL=postgres://agents@127.0.0.1:$port/agents"
  echo "export AGENTS_TEST_POSTGRES_DIR=$dir"
  ;;
pause)
  # Stops the server in DIR, keeping its data: for tests of a database that goes away.
  dir=${2:?usage: scripts/postgres.sh pause DIR}
  as_server_user "$(find_bin)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
  ;;
resume)
  # Starts the paused server in DIR again, on the same port.
  dir=${2:?usage: scripts/postgres.sh resume DIR}
  as_server_user "$(find_bin)/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start >&2
  ;;
stop)
  dir=${2:?usage: scripts/postgres.sh stop DIR}
  bin=$(find_bin)
  as_server_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 || true
  rm -rf "$dir"
  ;;
*)
  echo "usage: scripts/postgres.sh start | stop DIR | pause DIR | resume DIR" >&2
  exit 2
  ;;
esac
