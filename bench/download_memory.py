"""Storing a 500 MB video raises the worker's peak memory by less than
50 MB: the download streams through a temporary file into storage.

    .venv/bin/python bench/download_memory.py [--mb 500]
"""

import argparse
import resource
import time

from harness import report, setup

parser = argparse.ArgumentParser()
parser.add_argument("--mb", type=int, default=500)
args = parser.parse_args()
size = args.mb * 1024 * 1024

setup(KIE_DOWNLOAD_MAX_BYTES=str(size + 1))
from kiesim.process import SimulatorProcess  # noqa: E402
from videos.downloads import store_video  # noqa: E402
from videos.kie import KieClient  # noqa: E402
from videos.vocabulary import VideoRequest  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


sim = SimulatorProcess("--delay", "0")
try:
    client = KieClient(base_url=sim.url, api_key="bench")
    small = client.generate(VideoRequest(prompt="warm-up"))
    store_video(f"{sim.url}/files/{small}.mp4", name="videos/warmup.mp4")  # load every module first
    before = peak_mb()
    sim.config(video_bytes=size)
    big = client.generate(VideoRequest(prompt="big"))
    started = time.perf_counter()
    stored = store_video(f"{sim.url}/files/{big}.mp4", name="videos/big.mp4")
    seconds = time.perf_counter() - started
    after = peak_mb()
finally:
    sim.stop()

report(
    f"Download memory, {args.mb} MB video",
    [
        ("stored bytes", stored.size),
        ("peak RSS before", f"{before:.1f} MB"),
        ("peak RSS after", f"{after:.1f} MB"),
        ("increase", f"{after - before:.1f} MB (target < 50 MB)"),
        ("time", f"{seconds:.1f} s ({stored.size / seconds / 1e6:.0f} MB/s over loopback)"),
    ],
)
