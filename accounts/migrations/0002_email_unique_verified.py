"""One account per email, enforced by the database, and the accounts that
existed before email verification counted as verified.

The unique index is on lower(email) of Django's user table (blank emails,
e.g. a superuser made without one, are left out): ten simultaneous sign-ups
with one address make one account. If an existing database holds two users
with the same email in different case, this migration stops; merge or
change one of them, then migrate again.

The throttle cache table (DatabaseCache, used when there is no Redis) is
created here too, so that `migrate` is the whole install step.
"""

from django.core.management import call_command
from django.db import migrations

INDEX = "auth_user_email_lower_unique"


def verify_existing(apps, schema_editor):
    """Users from before verification got their grant already and must not
    be locked out by mandatory verification: their address counts as verified."""
    User = apps.get_model("auth", "User")
    EmailAddress = apps.get_model("account", "EmailAddress")
    known = set(EmailAddress.objects.values_list("user_id", flat=True))
    EmailAddress.objects.bulk_create(
        EmailAddress(user_id=pk, email=email.lower(), verified=True, primary=True)
        for pk, email in User.objects.exclude(email="").values_list("pk", "email")
        if pk not in known
    )


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_signup_attempts"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX} ON auth_user (LOWER(email)) WHERE email <> ''",
            f"DROP INDEX {INDEX}",
        ),
        migrations.RunPython(verify_existing, migrations.RunPython.noop),
        migrations.RunPython(create_cache_table, migrations.RunPython.noop),
    ]
