"""A real S3-compatible server for tests: moto's standalone server (moto[server] from PyPI), on loopback.

`ObjectStoreServer` starts it as its own process (so a test can stop it mid-job and start it again on the
same port, the bucket's objects kept in a snapshot-free way only while it runs), creates the bucket, and
gives the settings and environment variables that point the platform at it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import closing
from pathlib import Path

import boto3
import requests
from botocore.config import Config

from tests.live import LOG_DIR, free_port

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"


class ObjectStoreServer:
    def __init__(self, *, bucket: str | None = None, prefix: str = "media", port: int | None = None) -> None:
        self.port = port or free_port()
        self.bucket = bucket or f"mp-test-{uuid.uuid4().hex[:10]}"
        self.prefix = prefix
        self.process: subprocess.Popen | None = None
        self.log_path = LOG_DIR / f"moto-{self.port}.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ObjectStoreServer:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 - the child owns it for its lifetime
        moto_server = Path(sys.executable).with_name("moto_server")
        command = [str(moto_server)] if moto_server.exists() else [sys.executable, "-m", "moto.server"]
        self.process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY},
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited early:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                requests.get(f"{self.endpoint_url}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            raise RuntimeError("moto server did not answer within 60 s")
        if not self._bucket_exists():
            self.client().create_bucket(Bucket=self.bucket)
        return self

    def _bucket_exists(self) -> bool:
        try:
            self.client().head_bucket(Bucket=self.bucket)
        except Exception:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 10 s): the store goes away as a crashed or stopped server would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def pause(self) -> None:
        """SIGSTOP: the store stops answering (connections hang until the client's timeout), its data kept."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def client(self):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def keys(self) -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [item["Key"] for page in paginator.paginate(Bucket=self.bucket) for item in page.get("Contents", [])]

    def environment(self) -> dict[str, str]:
        """What a platform process (web or worker) needs to use this store."""
        return {
            "MEDIA_STORAGE": "s3",
            "MEDIA_S3_BUCKET": self.bucket,
            "MEDIA_S3_ENDPOINT_URL": self.endpoint_url,
            "MEDIA_S3_REGION": REGION,
            "MEDIA_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "MEDIA_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "MEDIA_S3_PREFIX": self.prefix,
            # Short timeouts so a test of an unreachable store does not wait out the production defaults.
            "MEDIA_S3_CONNECT_TIMEOUT_SECONDS": "2",
            "MEDIA_S3_READ_TIMEOUT_SECONDS": "5",
        }

    def storages_setting(self) -> dict:
        """A STORAGES value for `settings` in this process (override_settings resets the storage cache)."""
        return {
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": self.bucket,
                    "endpoint_url": self.endpoint_url,
                    "region_name": REGION,
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "location": self.prefix,
                    "addressing_style": "path",
                    "signature_version": "s3v4",
                    "default_acl": None,
                    "querystring_auth": True,
                    "file_overwrite": False,
                    "client_config": Config(
                        connect_timeout=2,
                        read_timeout=5,
                        retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"},
                        signature_version="s3v4",
                    ),
                },
            },
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }

    def __enter__(self) -> ObjectStoreServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def port_open(port: int) -> bool:
    import socket

    with closing(socket.socket()) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
