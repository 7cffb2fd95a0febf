#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 (starting them when installed but stopped) and nginx is installed.
set -euo pipefail

DB_HOST="${DATABASE_HOST:-127.0.0.1}"
DB_PORT="${DATABASE_PORT:-5432}"
DB_USER="${DATABASE_USER:-postgres}"
DB_NAME="${DATABASE_NAME:-mediaplatform}"
REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"

fail() { echo "ERROR: $*" >&2; exit 1; }

postgres_up() { pg_isready -q -h "$DB_HOST" -p "$DB_PORT" 2>/dev/null; }
redis_up() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

if ! command -v pg_isready >/dev/null; then
  fail "PostgreSQL is not installed. Install it (Debian/Ubuntu: sudo apt-get install postgresql) or point DATABASE_HOST at a server."
fi
if ! postgres_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "Starting PostgreSQL..."
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
  fi
  postgres_up || fail "PostgreSQL does not answer on $DB_HOST:$DB_PORT and could not be started."
fi

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  fail "nginx is not installed: the web front needs it. Install it (Debian/Ubuntu: sudo apt-get install nginx)."
fi

if ! command -v redis-cli >/dev/null; then
  fail "Redis is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server) or point REDIS_URL at a server."
fi
if ! redis_up; then
  if command -v redis-server >/dev/null; then
    echo "Starting Redis..."
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
    for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  fi
  redis_up || fail "Redis does not answer on $REDIS_HOST:$REDIS_PORT and could not be started."
fi

if ! psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1; then
  echo "Creating database $DB_NAME..."
  psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -qc "CREATE DATABASE \"$DB_NAME\"" \
    || fail "Could not create database $DB_NAME as $DB_USER."
fi
