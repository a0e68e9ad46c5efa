"""Poster frames for finished videos, taken with ffmpeg when it is installed
(the gallery shows a neutral placeholder otherwise)."""

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)


def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


def extract_poster(video_path: str, *, at_seconds: float = 0.5, width: int = 480) -> bytes | None:
    """A JPEG of the frame at `at_seconds`, or None if it cannot be made."""
    ffmpeg = ffmpeg_path()
    if not ffmpeg:
        return None
    command = [
        ffmpeg, "-loglevel", "error", "-ss", str(at_seconds), "-i", video_path,
        "-frames:v", "1", "-vf", f"scale={width}:-2", "-f", "image2", "-c:v", "mjpeg", "pipe:1",
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("poster for %s failed: %s", video_path, exc)
        return None
    if result.returncode != 0 or not result.stdout.startswith(b"\xff\xd8"):
        log.warning("poster for %s failed: %s", video_path, result.stderr[:200])
        return None
    return result.stdout
