#!/usr/bin/env bash
# The system packages the platform needs: `run` for running it (make run), `test` for its tests as well
# (make test, .ci/run; adds chromium for the browser tests). What is missing is installed with apt-get when
# running as root; otherwise the script prints the command that installs it and stops.
#
# PREREQUISITES_PATH: the folders searched for each package's command (default: PATH, the sbin folders, where
# nginx lives, and PostgreSQL's own bin folder, which Debian keeps off PATH).
set -euo pipefail

purpose="${1:-test}"
case "$purpose" in
  run | test) ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

postgres_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
search_path="${PREREQUISITES_PATH:-$PATH:/usr/sbin:/sbin${postgres_bin:+:$postgres_bin}}"

have() { PATH="$search_path" command -v "$1" >/dev/null 2>&1; }

database_is_local() {
  case "${DATABASE_HOST:-127.0.0.1}" in 127.0.0.1 | localhost | ::1 | /*) return 0 ;; *) return 1 ;; esac
}
redis_is_local() {
  case "${REDIS_URL:-redis://127.0.0.1:6379}" in *//127.0.0.1* | *//localhost* | *//\[::1\]*) return 0 ;; *) return 1 ;; esac
}

missing=()
need() {  # need PACKAGE CHECK...: the package is missing when the check fails
  local package="$1"
  shift
  "$@" || missing+=("$package")
}
python_has_venv() { PATH="$search_path" python3 -c "import venv, ensurepip" >/dev/null 2>&1; }

need make have make
need python3-venv python_has_venv
need postgresql-client have psql
need postgresql-client have pg_isready
# A server of our own only when the database is on this machine (ensure_services.sh starts it).
if database_is_local; then need postgresql have postgres; fi
need redis-tools have redis-cli
if redis_is_local; then need redis-server have redis-server; fi
need nginx have nginx  # the web front (mediaplatform/serve.py)
if [ "$purpose" = test ]; then
  need chromium have chromium  # the browser tests (tests/browser/)
  need prometheus have promtool  # checks deploy/prometheus/alerts.yml; its Prometheus runs in the alert test
fi

# Each package once, in the order found.
packages=()
for package in "${missing[@]+"${missing[@]}"}"; do
  case " ${packages[*]+"${packages[*]}"} " in *" $package "*) ;; *) packages+=("$package") ;; esac
done
[ "${#packages[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: missing system packages for 'make $purpose': ${packages[*]}. Install them (Debian/Ubuntu) with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${packages[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "ERROR: missing system packages for 'make $purpose': ${packages[*]}, and no apt-get to install them with." >&2
  exit 1
fi
echo "Installing the missing system packages: ${packages[*]}..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${packages[@]}"
