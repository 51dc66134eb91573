#!/usr/bin/env bash
# A private PostgreSQL cluster for the tests: loopback only, in a folder of its own, owned by an
# unprivileged user, gone after `stop`. Debian's `postgresql` package provides the binaries (this
# script installs it with apt-get when they are missing); the cluster is never Debian's own
# (`pg_ctlcluster`'s /var/lib/postgresql), so a machine's database, if it has one, is untouched.
#
#   .ci/postgres.sh start DIR   initdb + start in DIR; prints the admin URL (also in DIR/url)
#   .ci/postgres.sh stop DIR    stop the cluster and remove DIR
#
# The tests take the URL as KLEANSYNC_TEST_PG_URL and make a database per test from it
# (tests/conftest.py). Durability is switched off (fsync, synchronous_commit, full_page_writes):
# a crashed test cluster is thrown away, and the tests then spend their time on kleansync's
# statements, not on the disk.
set -euo pipefail

command=${1:-}
dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# As root (CI runs as root), the server runs as Debian's `postgres` user: PostgreSQL refuses root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$command" in
  start)
    if [ -z "$(bin_dir)" ]; then
      echo "postgres: installing Debian's postgresql" >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
          apt-get install -y -qq --no-install-recommends postgresql; } >/tmp/kleansync-pg-apt.log 2>&1 \
        || { cat /tmp/kleansync-pg-apt.log >&2; exit 1; }
    fi
    bin=$(bin_dir)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U kleansync -A trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    options="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir"
    options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    options+=" -c max_connections=300 -c shared_buffers=128MB"
    as_owner "$bin/pg_ctl" -D "$dir/data" -o "$options" -l "$dir/server.log" -w -t 60 start \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    url="postgresql+psycopg://kleansync@127.0.0.1:$port/postgres"
    echo "$url" >"$dir/url"
    echo "$url"
    ;;
  stop)
    bin=$(bin_dir)
    if [ -n "$bin" ] && [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
