"""`create_api_token USERNAME --name NAME [--read-only]`: a personal API
token from the command line. The token is printed alone on the last line
(scripts take `tail -1`); it is never stored and cannot be shown again."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.services import token_create


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (last line)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What the token is for, e.g. 'cli'.")
        parser.add_argument("--read-only", action="store_true", help="The token may read but not create videos.")

    def handle(self, *args, username: str, name: str, read_only: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not name.strip():
            raise CommandError("--name must not be empty.")
        token, raw = token_create(user=user, name=name, read_only=read_only)
        scope = "read-only" if token.read_only else "read and write"
        self.stderr.write(f"Token {token.name!r} ({scope}) for {username}; shown once, store it now:")
        self.stdout.write(raw)
