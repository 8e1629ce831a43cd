import secrets

from django.contrib.auth import get_user_model

from config.commands import ProjectCommand


class Command(ProjectCommand):
    help = "Create the demo superuser with a random password, printed once; reuse it after."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        users = get_user_model().objects
        if users.filter(username=username).exists():
            self.stdout.write(
                f"Demo user '{username}' already exists (its password was printed when it was "
                f"created; reset it with: manage.py changepassword {username})."
            )
            return
        password = secrets.token_urlsafe(12)
        users.create_superuser(username=username, email="", password=password)
        self.stdout.write(self.style.SUCCESS(f"Demo admin: {username} / {password}"))
        self.stdout.write("This password is shown once; note it now.")
