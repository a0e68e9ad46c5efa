"""Storing results into the object store (SeaweedFS on loopback, the real
S3 protocol through django-storages and boto3): peak memory of a worker
storing a 500 MB video (target: +50 MB at most), and provider-to-stored
time for a 10 MB video into the object store vs the local disk.

    .venv/bin/python bench/object_store.py [--mb 500] [--small-mb 10] [--runs 5]
"""

import argparse
import resource
import time

from harness import median, report, setup

parser = argparse.ArgumentParser()
parser.add_argument("--mb", type=int, default=500)
parser.add_argument("--small-mb", type=int, default=10)
parser.add_argument("--runs", type=int, default=5)
args = parser.parse_args()
MB = 1024 * 1024

from tests.servers import SeaweedFS  # noqa: E402

store = SeaweedFS().start()
try:
    setup(**store.env(), KIE_DOWNLOAD_MAX_BYTES=str(args.mb * MB + 1))
    from django.conf import settings  # noqa: E402
    from django.test import override_settings  # noqa: E402

    from kiesim.process import SimulatorProcess  # noqa: E402
    from videos.downloads import store_video  # noqa: E402
    from videos.kie import KieClient  # noqa: E402
    from videos.vocabulary import VideoRequest  # noqa: E402

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    sim = SimulatorProcess("--delay", "0")
    try:
        client = KieClient(base_url=sim.url, api_key="bench")

        def video(size: int) -> str:
            sim.config(video_bytes=size)
            return f"{sim.url}/files/{client.generate(VideoRequest(prompt='bench'))}.mp4"

        # Provider to stored, 10 MB: the object store, then the local disk.
        small = args.small_mb * MB
        store_video(video(small), name="videos/warmup.mp4")  # every module and the multipart path loaded
        times = {"object store": [], "local disk": []}
        for run in range(args.runs):
            url = video(small)
            started = time.perf_counter()
            store_video(url, name=f"videos/small-{run}.mp4")
            times["object store"].append(time.perf_counter() - started)
        local = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}}
        with override_settings(STORAGES={**settings.STORAGES, **local}, AWS_STORAGE_BUCKET_NAME=""):
            store_video(video(small), name="videos/warmup.mp4")
            for run in range(args.runs):
                url = video(small)
                started = time.perf_counter()
                store_video(url, name=f"videos/small-{run}.mp4")
                times["local disk"].append(time.perf_counter() - started)

        # Peak memory, 500 MB into the object store.
        before = peak_mb()
        url = video(args.mb * MB)
        started = time.perf_counter()
        stored = store_video(url, name="videos/big.mp4")
        seconds = time.perf_counter() - started
        after = peak_mb()
        in_bucket = store.client().head_object(Bucket=store.bucket, Key=stored.name)["ContentLength"]
    finally:
        sim.stop()
finally:
    store.stop()

report(
    "Object store (SeaweedFS 4.48 on loopback, django-storages S3Storage: one PUT up to 16 MB, above 8 MB parts, 2 at a time)",
    [
        (f"{args.small_mb} MB provider-to-stored, object store", f"median {median(times['object store']):.3f} s "
         f"(runs: {', '.join(f'{t:.3f}' for t in times['object store'])})"),
        (f"{args.small_mb} MB provider-to-stored, local disk", f"median {median(times['local disk']):.3f} s "
         f"(runs: {', '.join(f'{t:.3f}' for t in times['local disk'])})"),
        (f"{args.mb} MB stored bytes (in the bucket)", f"{stored.size} ({in_bucket})"),
        ("peak RSS before", f"{before:.1f} MB"),
        ("peak RSS after", f"{after:.1f} MB"),
        ("increase", f"{after - before:.1f} MB (target <= 50 MB)"),
        ("time", f"{seconds:.1f} s ({stored.size / seconds / 1e6:.0f} MB/s, provider to bucket over loopback)"),
    ],
)  # fmt: skip
