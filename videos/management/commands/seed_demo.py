from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from billing.services import credits_grant, signup_grant


class Command(BaseCommand):
    help = "Create a demo user and a staff user (idempotent) and print their credentials."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="demo-pass-2026")
        parser.add_argument("--admin-password", default="admin-pass-2026")

    def handle(self, password, admin_password, **options):
        User = get_user_model()
        demo, created = User.objects.get_or_create(username="demo", defaults={"email": "demo@example.com"})
        if created:
            demo.set_password(password)
            demo.save()
            signup_grant(user=demo, amount=settings.SIGNUP_GRANT_CREDITS)
            credits_grant(user=demo, amount=200, reason="Demo credits")
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(admin_password)
            admin.save()
        for user in (demo, admin):
            # Seeded accounts count as verified, or mandatory verification would keep them out.
            EmailAddress.objects.get_or_create(
                user=user, email=user.email.lower(), defaults={"verified": True, "primary": True}
            )
        self.stdout.write(f"Demo user:  demo / {password}")
        self.stdout.write(f"Staff user: admin / {admin_password}  (admin at /admin/)")
