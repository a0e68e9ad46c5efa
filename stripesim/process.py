"""Run the embedded fake Stripe as its own process and steer it (tests,
bin/dev): its URL, its webhook target, and a reset between tests."""

import json
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


class LocalStripeProcess:
    """localstripe on a free loopback port, state in `state` (or memory)."""

    def __init__(self, *, state: str = ""):
        args = [sys.executable, "-m", "stripesim", "--port", "0"]
        if state:
            args += ["--state", state]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("localstripe did not start (is it installed? pip install -r requirements-dev.txt)")
        self.url = json.loads(line)["localstripe"]

    def send_webhooks_to(self, url: str, secret: str, name: str = "veo") -> None:
        """localstripe signs and posts its events to `url` (a second later)."""
        requests.post(
            f"{self.url}/_config/webhooks/{name}", data={"url": url, "secret": secret}, timeout=5
        ).raise_for_status()

    def reset(self) -> None:
        """Forget every object (customers, intents, charges...)."""
        requests.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)
