from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from config.api.services import token_expiry_in, token_issue
from config.commands import ProjectCommand


class Command(ProjectCommand):
    help = "Issue an API token for USER and print it once (only its digest is stored)."

    def add_arguments(self, parser):
        parser.add_argument("user", help="Username of the token's owner.")
        parser.add_argument("--name", default="", help="What the token is for.")
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="Days until it expires (default never)."
        )

    def handle(self, *args, user: str, name: str, expires_in: int | None, **options):
        if expires_in is not None and expires_in < 1:
            raise CommandError("--expires-in must be a positive number of days.")
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user named {user!r}.")
        if not owner.is_active:
            raise CommandError(f"User {user!r} is inactive; activate it first.")
        token, raw = token_issue(user=owner, name=name, expires_at=token_expiry_in(expires_in))
        self.stdout.write(raw)
        expiry = token.expires_at.isoformat() if token.expires_at else "never"
        self.stderr.write(f"Token for {user} (expires {expiry}). Store it now: it is not kept.")
