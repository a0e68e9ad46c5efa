import contextlib

from django.core.management.base import BaseCommand

from kiesim.cli import add_arguments, announce, simulator_from
from kiesim.server import serve


class Command(BaseCommand):
    help = "Run the built-in kie.ai simulator on loopback (no network, no key)."

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, **options):
        with contextlib.suppress(KeyboardInterrupt):
            serve(simulator_from(options), ready=announce)
