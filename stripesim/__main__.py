"""Run localstripe on 127.0.0.1 with a state file of its own.

localstripe's own entry point listens on every interface and keeps its state
in /tmp/localstripe.pickle, shared by every copy on the machine. This starts
the same aiohttp app on a loopback socket (port 0 picks a free one) and points
its store at the file given, then prints one JSON line with its URL so that a
parent process can find it.

    python -m stripesim --port 8020 --state var/localstripe.pickle \
        --webhook http://127.0.0.1:8000/billing/stripe/webhook/ --webhook-secret whsec_...
"""

import argparse
import json
import logging
import pickle
import socket
import sys
from pathlib import Path


def _use_state_file(path: Path | None) -> None:
    """Make localstripe's store load from and save to `path` (or nowhere)."""
    from localstripe.resources import Store

    def load(self) -> None:
        if path is None or not path.exists():
            return
        with path.open("rb") as f:
            old = pickle.load(f)  # noqa: S301 (our own file, written below)
        self.clear()
        self.update(old)

    def dump(self) -> None:
        if path is None:
            return
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)

    Store.try_load_from_disk = load
    Store.dump_to_disk = dump


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="stripesim", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8020, help="0 picks a free port")
    parser.add_argument("--state", default="", help="state file (default: none, state lives in memory)")
    parser.add_argument("--webhook", default="", help="post signed events to this URL")
    parser.add_argument("--webhook-secret", default="", help="the signing secret (whsec_...)")
    args = parser.parse_args(argv)

    state = Path(args.state).resolve() if args.state else None
    if state:
        state.parent.mkdir(parents=True, exist_ok=True)
    _use_state_file(state)

    from aiohttp import web
    from localstripe.resources import store
    from localstripe.server import app

    store.try_load_from_disk()
    if args.webhook:
        from localstripe.webhooks import register_webhook

        register_webhook("app", args.webhook, args.webhook_secret, None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    print(json.dumps({"localstripe": f"http://{args.host}:{port}"}), flush=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    web.run_app(app, sock=sock, print=None, access_log=None)


if __name__ == "__main__":
    main()
