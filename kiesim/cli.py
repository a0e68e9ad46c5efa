"""Command-line options of the simulator, shared by `python -m
kiesim` and `manage.py kie_simulator`."""

import argparse
import contextlib
import json
import logging
import sys

from .server import DEFAULTS, Simulator, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8010, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=DEFAULTS["delay"], help="seconds a generation takes")
    parser.add_argument("--delay-quality", type=float, default=None, help="seconds for veo3 (default: --delay)")
    parser.add_argument("--outcome", choices=["success", "fail", "fail3"], default="success")
    parser.add_argument("--no-callbacks", action="store_true", help="never call back (the app must poll)")
    parser.add_argument("--callback-shape", choices=["nested", "flat", "alternate"], default="nested")
    parser.add_argument("--duplicate-callbacks", type=int, default=0)
    parser.add_argument("--video-bytes", type=int, default=0, help="pad served videos to this size")
    parser.add_argument("--hmac-key", default="", help="sign callbacks with this key")
    parser.add_argument("--api-key", default="", help="require this bearer token")
    parser.add_argument("--credits", type=int, default=DEFAULTS["credits"])


def simulator_from(options: dict) -> Simulator:
    config = dict(DEFAULTS)
    config.update(
        delay=options["delay"],
        delay_quality=options["delay_quality"],
        outcome=options["outcome"],
        callbacks=not options["no_callbacks"],
        callback_shape=options["callback_shape"],
        duplicate_callbacks=options["duplicate_callbacks"],
        video_bytes=options["video_bytes"],
        hmac_key=options["hmac_key"],
        api_key=options["api_key"],
        credits=options["credits"],
    )
    return Simulator(host=options["host"], port=options["port"], config=config)


def announce(sim: Simulator) -> None:
    # One JSON line on stdout, so that scripts and tests can learn the port.
    print(json.dumps({"kie_simulator": sim.base}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kie_simulator", description="A kie.ai Veo 3 simulator on loopback.")
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        serve(simulator_from(options), ready=announce)
