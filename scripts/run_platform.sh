#!/usr/bin/env bash
# Run the web front (nginx -> gunicorn for HTTP, Daphne for websockets), the Celery workers and celery beat in the foreground; Ctrl-C stops them all.
set -uo pipefail

BIN="${VENV:-.venv}/bin"
PORT="${PORT:-8000}"
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/var/ultralytics}"
MEDIA_DIR="${MEDIA_ROOT:-$PWD/var/media}"
PLATFORM_USER="${PLATFORM_USER:-mediaplatform}"
# Logs: readable lines for a person at a terminal; one JSON object per line for anything else (a file, a pipe, a
# log collector, production). LOG_FORMAT, when given, wins.
if [ -z "${LOG_FORMAT:-}" ] && [ -t 1 ]; then
  export LOG_FORMAT=plain
fi

# What the platform writes (logs, uploads, exports) belongs to its user and group, never to every local user:
# the access log holds every URL asked for.
umask 027
mkdir -p var/log "$YOLO_CONFIG_DIR" "$MEDIA_DIR"
chmod 0750 var/log
find var/log -maxdepth 1 -type f -exec chmod 0640 {} +

# Started by root, the platform's processes run as an unprivileged system user that may write to var/ and the
# media folder only; nginx's master, started by mediaplatform.serve, then is that user too.
as_platform=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id -u "$PLATFORM_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir "$PWD/var/home" \
      --shell "$(command -v nologin || echo /bin/false)" "$PLATFORM_USER" 2>/dev/null \
      && echo "Created the system user $PLATFORM_USER for the platform's processes."
  fi
  if id -u "$PLATFORM_USER" >/dev/null 2>&1 && command -v setpriv >/dev/null; then
    platform_uid="$(id -u "$PLATFORM_USER")" platform_gid="$(id -g "$PLATFORM_USER")"
    candidate=(setpriv --reuid="$platform_uid" --regid="$platform_gid" --init-groups --)
    # The user must be able to read this checkout and run its interpreter, which mediaplatform.serve starts
    # again for each server (not so when either lives under a private home such as /root).
    probe="import subprocess, sys, django, mediaplatform; subprocess.run([sys.executable, '-c', ''], check=True)"
    if probe_error="$("${candidate[@]}" "$BIN/python" -c "$probe" 2>&1 && "${candidate[@]}" "$BIN/celery" --version 2>&1)"; then
      as_platform=("${candidate[@]}")
    else
      reason="$PLATFORM_USER cannot run $BIN/python from $PWD: ${probe_error##*$'\n'}"
    fi
  else
    reason="no user $PLATFORM_USER could be made, or setpriv (util-linux) is missing"
  fi
  if [ "${#as_platform[@]}" -gt 0 ]; then
    mkdir -p var/home
    chown -R "$platform_uid:$platform_gid" var "$MEDIA_DIR" "$YOLO_CONFIG_DIR"
    export HOME="$PWD/var/home"  # caches (torch, matplotlib) land where the user may write
    echo "Running the platform's processes as the unprivileged user $PLATFORM_USER."
  else
    echo "WARNING: running the platform's processes as root ($reason)." >&2
  fi
fi

if [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
  export DJANGO_SUPERUSER_USERNAME="${DJANGO_SUPERUSER_USERNAME:-admin}"
  export DJANGO_SUPERUSER_EMAIL="${DJANGO_SUPERUSER_EMAIL:-admin@localhost}"
  "${as_platform[@]}" "$BIN/python" manage.py createsuperuser --noinput 2>/dev/null \
    && echo "Created staff user $DJANGO_SUPERUSER_USERNAME." || true
  "${as_platform[@]}" "$BIN/python" manage.py load_sample_video --owner "$DJANGO_SUPERUSER_USERNAME" || true
else
  echo "No DJANGO_SUPERUSER_PASSWORD given: sign in with a user you made (README: Set up)."
fi

pids=()
stop_all() {
  trap - INT TERM
  echo "Stopping..."
  kill -TERM "${pids[@]}" 2>/dev/null
  wait "${pids[@]}" 2>/dev/null
}
trap 'stop_all; exit 0' INT TERM

"${as_platform[@]}" "$BIN/python" -m mediaplatform.serve --port "$PORT" --access-log "$PWD/var/log/access.log" & pids+=($!)
"${as_platform[@]}" "$BIN/celery" -A mediaplatform worker -Q inference --concurrency 1 --hostname "inference@%h" --loglevel INFO & pids+=($!)
"${as_platform[@]}" "$BIN/celery" -A mediaplatform worker -Q default --concurrency 2 --hostname "default@%h" --loglevel INFO & pids+=($!)
"${as_platform[@]}" "$BIN/celery" -A mediaplatform beat --loglevel INFO --pidfile= & pids+=($!)


# On the first start the platform fetches a real detector (yolo11n, COCO's 80 classes) and makes it the default,
# in the background so that start-up never waits on the network. Without the internet the bundled demo model
# (synthetic shapes only) stays the default; that is said once, with the command that installs a model later.
FIRST_MODEL="${FIRST_MODEL:-yolo11n}"
FIRST_MODEL_MARKER="var/first-model-install.done"
if [ "$FIRST_MODEL" != "none" ] && [ ! -e "$FIRST_MODEL_MARKER" ]; then
  (
    if "${as_platform[@]}" "$BIN/python" manage.py install_model "$FIRST_MODEL" --default >var/log/first-model.log 2>&1; then
      echo "Installed $FIRST_MODEL as the default detection model."
    elif grep -q "installed already" var/log/first-model.log; then
      :
    else
      echo "Could not download $FIRST_MODEL ($(tail -n 1 var/log/first-model.log)). Runs use the demo model, which finds" \
        "synthetic shapes only (box, disc, triangle, ring, cross). Install a real model: $BIN/python manage.py" \
        "install_model $FIRST_MODEL --default (or in the admin: Model installs, Add)."
    fi
    touch "$FIRST_MODEL_MARKER"
  ) & pids+=($!)
fi

echo "mediaplatform is starting on http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
wait -n "${pids[@]}"
status=$?
echo "A platform process exited (status $status); stopping the others." >&2
stop_all
exit "$status"
