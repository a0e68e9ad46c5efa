"""`bin/dev` as a whole: it starts the web server, the worker and the
simulator, and a Ctrl-C or a SIGTERM stops every one of them within seconds
(it once left qcluster running)."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .conftest import ROOT, wait_for

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_processes(sid: int) -> list[int]:
    """Live processes of a session (zombies count as gone)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(int(entry.name))
    return found


def described(pids: list[int]) -> list[str]:
    """Each process as 'pid (process group): command line', for a failure message."""
    lines = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            lines.append(f"{pid} ({os.getpgid(pid)}): {command.strip()}")
        except (OSError, ProcessLookupError):
            continue
    return lines


@pytest.fixture(scope="module")
def dev_database(tmp_path_factory):
    # One database for the module: the second start need not migrate again.
    return f"sqlite:///{tmp_path_factory.mktemp('dev') / 'dev.sqlite3'}"


def start_dev(database_url: str) -> tuple[subprocess.Popen, str]:
    web = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KIE_", "PUBLIC_", "Q_"))},
        "DATABASE_URL": database_url,
        "WEB_PORT": str(web),
        "SIM_PORT": str(free_port()),
        # Not the default 8020: another bin/dev on this machine may hold it,
        # and then the embedded Stripe's exit stops this bin/dev at once.
        "STRIPE_PORT": str(free_port()),
        "STRIPE_STATE": str(Path(database_url.split("///", 1)[1]).parent / "localstripe.pickle"),
        "MEDIA_ROOT": str(Path(database_url.split("///", 1)[1]).parent / "media"),
    }
    proc = subprocess.Popen(
        ["bin/dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # As from a terminal. A suite run in the background (`... &` in a
        # script) inherits SIGINT ignored, and a shell cannot trap a signal
        # ignored on entry: Ctrl-C would then never reach bin/dev's trap.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    url = f"http://127.0.0.1:{web}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, timeout=120, interval=0.5)
    return proc, url


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_bin_dev_stops_everything(dev_database, how):
    proc, url = start_dev(dev_database)
    try:
        wait_for(lambda: len(session_processes(proc.pid)) >= 4, timeout=30)  # script, web, worker, simulator
        started = time.monotonic()
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to its foreground process group
        else:
            proc.send_signal(signal.SIGTERM)
        try:
            wait_for(lambda: not session_processes(proc.pid), timeout=15, interval=0.2)
        except AssertionError:
            raise AssertionError(
                f"still running 15 s after the signal: {described(session_processes(proc.pid))}"
            ) from None
        stopped_after = time.monotonic() - started
    finally:
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=5)
    assert stopped_after < 10, f"bin/dev took {stopped_after:.1f}s to stop"
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/healthz", timeout=1)
