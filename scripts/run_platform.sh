#!/usr/bin/env bash
# Run the web front (nginx -> gunicorn for HTTP, Daphne for websockets), the Celery workers and celery beat in the foreground; Ctrl-C stops them all.
set -uo pipefail

BIN="${VENV:-.venv}/bin"
PORT="${PORT:-8000}"
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$PWD/var/ultralytics}"
mkdir -p var/log "$YOLO_CONFIG_DIR"

if [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
  export DJANGO_SUPERUSER_USERNAME="${DJANGO_SUPERUSER_USERNAME:-admin}"
  export DJANGO_SUPERUSER_EMAIL="${DJANGO_SUPERUSER_EMAIL:-admin@localhost}"
  "$BIN/python" manage.py createsuperuser --noinput 2>/dev/null \
    && echo "Created staff user $DJANGO_SUPERUSER_USERNAME." || true
  "$BIN/python" manage.py load_sample_video --owner "$DJANGO_SUPERUSER_USERNAME" || true
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

"$BIN/python" -m mediaplatform.serve --port "$PORT" --access-log "$PWD/var/log/access.log" & pids+=($!)
"$BIN/celery" -A mediaplatform worker -Q inference --concurrency 1 --hostname "inference@%h" --loglevel INFO & pids+=($!)
"$BIN/celery" -A mediaplatform worker -Q default --concurrency 2 --hostname "default@%h" --loglevel INFO & pids+=($!)
"$BIN/celery" -A mediaplatform beat --loglevel INFO --pidfile= & pids+=($!)

echo "mediaplatform is starting on http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
wait -n "${pids[@]}"
status=$?
echo "A platform process exited (status $status); stopping the others." >&2
stop_all
exit "$status"
