# One image for the web server, the workers and beat (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/app/var/home \
    YOLO_CONFIG_DIR=/app/var/ultralytics \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=false \
    ULTRALYTICS_SAFE_LOAD=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client nginx \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --uid 10001 --home-dir /app/var/home --no-create-home \
       --shell /usr/sbin/nologin mediaplatform

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --no-deps -r requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var/media var/ultralytics var/log var/home \
    && chown -R mediaplatform:mediaplatform var \
    && chmod 0750 var/log

# The code stays root's and read-only; the processes run unprivileged and write to var/ (media included) only.
USER mediaplatform
EXPOSE 8000
# nginx on 8000 in front of gunicorn (HTTP) and Daphne (websockets): mediaplatform/serve.py.
CMD ["python", "-m", "mediaplatform.serve", "--bind", "0.0.0.0", "--port", "8000"]
