"""/healthz for load balancers: 200 only when the database, the file store
and the task broker all answer within 2 s, 503 otherwise.

The probes are django-health-check's (run concurrently, each bounded by its
timeout plus one second); the answer is one word, because the public has no
business knowing which part is down: the failures go to the log."""

import asyncio
import contextlib
import dataclasses
import datetime
import functools
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.files.base import ContentFile
from django.http import HttpResponse
from health_check.checks import Database, Storage
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient

# django-health-check waits a check's timeout plus one second: 2 s in all.
BUDGET = datetime.timedelta(seconds=1)


@dataclasses.dataclass
class QuickDatabase(Database):
    timeout = BUDGET


@dataclasses.dataclass
class QuickStorage(Storage):
    """Saves, reads and deletes a small file: what a download and a viewer
    need. With object storage, through a client with one-second timeouts
    and no retries: the app's own client waits far longer, as a 500 MB
    upload should, but a probe must not."""

    timeout = BUDGET

    def run(self) -> None:
        # Write, read back, delete: three round trips to an object store, not
        # the library's six (it checks exists() after each step and deletes
        # twice), so a busy but working store answers within the budget.
        name, content = self.get_file_name(), self.get_file_content()
        store = self.storage
        try:
            name = store.save(name, ContentFile(content))
            with store.open(name) as handle:
                if handle.read() != content:
                    raise ServiceUnavailable("File content does not match")
        finally:
            store.delete(name)

    @property
    def storage(self):
        default = super().storage
        if not settings.AWS_STORAGE_BUCKET_NAME:
            return default
        return _probe_storage(type(default), settings.AWS_STORAGE_BUCKET_NAME, settings.AWS_S3_ENDPOINT_URL)


@functools.cache
def _probe_storage(backend: type, bucket: str, endpoint_url: str | None):
    """One per process (and settings): a new boto3 session costs most of a
    second of CPU loading the S3 model, more than the probe's budget."""
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        signature_version="s3v4",
        connect_timeout=1,
        read_timeout=1,
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return backend(bucket_name=bucket, endpoint_url=endpoint_url, client_config=config)


@dataclasses.dataclass
class QuickRedis(Redis):
    timeout = BUDGET


def broker_check() -> QuickRedis | None:
    """Redis when it is the broker (REDIS_URL), else nothing more: the ORM
    broker is the database, checked already."""
    if not settings.REDIS_URL:
        return None
    url = settings.REDIS_URL
    return QuickRedis(client_factory=lambda: RedisClient.from_url(url, socket_connect_timeout=1, socket_timeout=1))


# Probes run in threads of their own that nobody waits for: a store that
# hangs leaves a thread blocked until its client gives up, but the answer
# (503) goes out after 2 s. Django's default executor would be shut down,
# and waited for, at the end of every request.
EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthz")


class Healthz(HealthCheckView):
    def get_executor(self):
        return contextlib.nullcontext(EXECUTOR)

    def get_checks(self):
        checks = [QuickDatabase(), QuickStorage()]
        broker = broker_check()
        if broker is not None:
            checks.append(broker)
        return checks

    async def get(self, request, *args, **kwargs):
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        if any(result.error for result in results):
            return HttpResponse("unavailable\n", status=503, content_type="text/plain")
        return HttpResponse("ok\n", content_type="text/plain")
