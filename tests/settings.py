"""Test settings: the real settings, with test defaults in the environment.

The simulator fixture points KIE_API_BASE_URL at a simulator process it
starts; the SQLite test database is a file so that the live server, the
simulator's callbacks and worker processes each get their own connection.
"""

import os
import tempfile
from pathlib import Path

_base = Path(__file__).resolve().parent.parent
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key")
os.environ.setdefault("KIE_API_BASE_URL", "http://127.0.0.1:9")
os.environ.setdefault("KIE_API_KEY", "test-api-key-do-not-log")
os.environ.setdefault("KIE_DOWNLOAD_HOSTS", "127.0.0.1")
os.environ.setdefault("STATIC_MANIFEST", "off")
os.environ.setdefault("Q_SYNC", "on")
os.environ.setdefault("CONN_MAX_AGE", "0")
os.environ.setdefault(
    "SECURE_SSL_REDIRECT", "off"
)  # the test servers speak plain http  # live-server threads must not keep connections open
os.environ.setdefault("SQLITE_TEST_NAME", str(_base / "var" / f"test-{os.getpid()}.sqlite3"))
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="veo-test-media-"))
(_base / "var").mkdir(exist_ok=True)

from veoproject.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Throttle counters in process memory: the live server's threads share them,
# and a fixture clears them between tests.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
