"""Run the simulator as its own process and steer it over HTTP (used by the
tests and the benchmarks)."""

import json
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


class SimulatorProcess:
    """The built-in simulator on a free loopback port."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiesim", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.url = json.loads(self.proc.stdout.readline())["kie_simulator"]

    def config(self, **changes) -> dict:
        response = requests.post(f"{self.url}/_sim/config", json=changes, timeout=5)
        response.raise_for_status()
        return response.json()["config"]

    def reset(self) -> None:
        requests.post(f"{self.url}/_sim/reset", timeout=5).raise_for_status()

    def stats(self) -> dict:
        return requests.get(f"{self.url}/_sim/stats", timeout=5).json()

    def calls(self, endpoint: str) -> int:
        return self.stats()["calls"].get(endpoint, 0)

    def arrived(self, endpoint: str) -> int:
        """Requests to `endpoint` received so far, answered or not yet."""
        return self.stats()["arrived"].get(endpoint, 0)

    def task(self, task_id: str) -> dict:
        return requests.get(f"{self.url}/_sim/tasks/{task_id}", timeout=5).json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
