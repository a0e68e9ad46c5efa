"""/healthz: 200 only when the database, the file store and the broker
answer within 2 s; 503 otherwise, with nothing about which part failed."""

import os
import socket
import subprocess
import sys
import time

import pytest

from .conftest import ROOT
from .servers import free_ports


@pytest.fixture
def hung_port():
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    yield server.getsockname()[1]
    server.close()


def healthz(client):
    started = time.monotonic()
    response = client.get("/healthz")
    return response, time.monotonic() - started


def assert_unavailable(response, took):
    assert response.status_code == 503 and response.content == b"unavailable\n"
    assert took < 3.0  # 2 s budget, plus the test client's own time


def test_healthy_with_database_and_local_storage(client, db, settings):
    settings.REDIS_URL = ""
    response, _ = healthz(client)
    assert response.status_code == 200 and response.content == b"ok\n"
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthy_with_object_storage_and_redis(client, db, s3, settings):
    import redis

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    try:
        redis.from_url(settings.REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    response, _ = healthz(client)
    assert response.status_code == 200
    assert not s3.keys("health_check_storage_test/")  # the probe cleans up after itself


def test_store_down(client, db, s3, settings):
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_ports(1)[0]}"
    settings.STORAGES = dict(settings.STORAGES)
    assert_unavailable(*healthz(client))


def test_store_that_hangs_is_down_within_two_seconds(client, db, s3, settings, hung_port):
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{hung_port}"
    settings.STORAGES = dict(settings.STORAGES)
    assert_unavailable(*healthz(client))


def test_broker_down(client, db, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_ports(1)[0]}/0"
    assert_unavailable(*healthz(client))


def test_broker_that_hangs(client, db, settings, hung_port):
    settings.REDIS_URL = f"redis://127.0.0.1:{hung_port}/0"
    assert_unavailable(*healthz(client))


def test_database_down():
    """A web process whose database is unreachable (its own process: this
    one's database connection is the test's)."""
    script = (
        "import django, time; django.setup();"
        "from django.test import Client; t = time.monotonic(); r = Client().get('/healthz', HTTP_HOST='127.0.0.1');"
        "print(r.status_code, repr(r.content), round(time.monotonic() - t, 2))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{free_ports(1)[0]}/none",
        "REDIS_URL": "",
    }
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    status, body, took = out.stdout.split()
    assert (status, body) == ("503", "b'unavailable\\n'") and float(took) < 3.0, out.stderr[-2000:]
