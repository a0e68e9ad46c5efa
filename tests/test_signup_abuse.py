"""Abuse costs the abuser: the signup grant waits for a verified address,
sign-ups are throttled per client address, one account per email (in any
case, enforced by the database), failed logins are throttled per account and
per address on the site and in the admin."""

import io
import re
import threading
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone

from accounts.models import SignupAttempt
from billing.models import LedgerEntry
from billing.selectors import balance_of

from .conftest import postgres_only

PASSWORD = "a-Long-pass-9"


def signup(client, address="10.0.0.1", **overrides):
    data = {"username": "carol", "email": "carol@example.com", "password1": PASSWORD, "password2": PASSWORD}
    data.update(overrides)
    return client.post("/accounts/signup/", data, REMOTE_ADDR=address)


def login(client, username, password, address="10.0.0.1", url="/accounts/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


def confirmation_link() -> str:
    return re.search(r"http://testserver(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)


@pytest.fixture
def mandatory(settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"


def test_the_grant_comes_when_the_address_is_verified(client, db, mandatory, django_user_model, settings):
    response = signup(client)
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    user = django_user_model.objects.get(username="carol")
    assert balance_of(user.pk) == 0 and not LedgerEntry.objects.filter(user=user).exists()
    assert client.get("/videos/").status_code == 302  # not logged in
    # Logging in before verifying sends the link again, and still does not log in.
    assert login(Client(), "carol", PASSWORD).url == "/accounts/confirm-email/"

    link = confirmation_link()
    assert client.get(link).status_code == 200  # a GET (a link scanner) verifies nothing
    assert balance_of(user.pk) == 0
    assert client.post(link).status_code == 302
    assert balance_of(user.pk) == settings.SIGNUP_GRANT_CREDITS
    assert client.get("/videos/").status_code == 200
    client.post(link)  # confirming again grants nothing more
    assert LedgerEntry.objects.filter(user=user, kind="signup").count() == 1
    assert balance_of(user.pk) == settings.SIGNUP_GRANT_CREDITS


def test_optional_verification_logs_in_but_grants_on_verification(client, db, settings, django_user_model):
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    assert signup(client).url == "/videos/"
    user = django_user_model.objects.get(username="carol")
    assert balance_of(user.pk) == 0
    client.post(confirmation_link())
    assert balance_of(user.pk) == settings.SIGNUP_GRANT_CREDITS


def test_mandatory_is_the_default_with_debug_off(settings):
    assert not settings.DEBUG and settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory"


def test_signups_per_address_are_throttled_counting_refused_ones(client, db, mandatory, settings, django_user_model):
    settings.SIGNUPS_PER_IP_PER_HOUR = 5
    for i in range(3):  # refused by the form: they count all the same
        assert signup(Client(), username=f"bad{i}", password2="other-Pass-1").status_code == 200
    for i in range(2):
        assert signup(Client(), username=f"good{i}", email=f"good{i}@example.com").status_code == 302
    response = signup(Client(), username="sixth", email="sixth@example.com")
    assert response.status_code == 429
    assert "Too many sign-ups from your network in the last hour (at most 5)" in response.content.decode()
    assert not django_user_model.objects.filter(username="sixth").exists()
    # Refused attempts count too: trying again keeps the address refused.
    assert signup(Client(), username="seventh", email="seventh@example.com").status_code == 429
    # Another address is not affected.
    assert signup(Client(), address="10.0.0.2", username="other", email="other@example.com").status_code == 302
    # An hour later the address may sign up again.
    SignupAttempt.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert signup(Client(), username="later", email="later@example.com").status_code == 302
    assert SignupAttempt.objects.filter(address="10.0.0.1").count() <= 8


def test_a_forged_forwarded_for_does_not_escape_the_throttle(db, mandatory, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 2
    statuses = [
        signup(Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"), username=f"u{i}", email=f"u{i}@example.com").status_code
        for i in range(4)
    ]
    assert statuses == [302, 302, 429, 429]


def test_a_trusted_proxy_reports_the_client_address(db, mandatory, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 1
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    statuses = [
        signup(Client(HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"), username=f"u{i}", email=f"u{i}@example.com").status_code
        for i in (1, 2, 2)
    ]
    assert statuses == [302, 302, 429]


def test_ipv6_addresses_count_per_network(db, mandatory, settings):
    settings.SIGNUPS_PER_IP_PER_HOUR = 2
    statuses = [
        signup(Client(), address=f"2001:db8:1:2::{i:x}", username=f"v{i}", email=f"v{i}@example.com").status_code
        for i in range(1, 4)
    ]
    assert statuses == [302, 302, 429]
    assert signup(Client(), address="2001:db8:1:3::1", username="w", email="w@example.com").status_code == 302


def test_one_account_per_email_in_any_case(client, alice, django_user_model):
    response = signup(client, email="ALICE@Example.COM")
    assert response.status_code == 200 and "exists already" in response.content.decode()
    # The database holds the rule whatever code writes the user.
    with pytest.raises(IntegrityError), transaction.atomic():
        django_user_model.objects.create_user("alice2", email="Alice@EXAMPLE.com", password="x")
    assert django_user_model.objects.filter(email__iexact="alice@example.com").count() == 1
    django_user_model.objects.create_user("noemail1", password="x")  # blank emails are not one address
    django_user_model.objects.create_user("noemail2", password="x")


def signup_page_session(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/signup/", timeout=10)
    return session


def race(base: str, forms: list[dict]) -> list[int]:
    sessions = [signup_page_session(base) for _ in forms]
    barrier, statuses = threading.Barrier(len(forms)), []

    def post(session, data):
        barrier.wait()
        response = session.post(
            f"{base}/accounts/signup/",
            data={**data, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
            timeout=60,
            allow_redirects=False,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=pair) for pair in zip(sessions, forms, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses


@pytest.fixture
def racing(live, settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SIGNUPS_PER_IP_PER_HOUR = 100
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    return live.url


@postgres_only
def test_ten_simultaneous_signups_with_one_email_make_one_account(racing):
    forms = [
        {"username": f"twin{i}", "email": ("Same@Example.com" if i % 2 else "same@example.com"), "password1": PASSWORD}
        for i in range(10)
    ]
    statuses = race(racing, [{**f, "password2": PASSWORD} for f in forms])
    assert sorted(statuses) == [200] * 9 + [302]
    User = get_user_model()
    assert User.objects.filter(email__iexact="same@example.com").count() == 1
    user = User.objects.get(email__iexact="same@example.com")
    assert LedgerEntry.objects.filter(kind="signup").count() == 1 and balance_of(user.pk) > 0


@postgres_only
def test_ten_simultaneous_signups_with_one_username_make_one_account(racing):
    forms = [
        {"username": "samename", "email": f"s{i}@example.com", "password1": PASSWORD, "password2": PASSWORD}
        for i in range(10)
    ]
    assert sorted(race(racing, forms)) == [200] * 9 + [302]
    assert get_user_model().objects.filter(username="samename").count() == 1
    assert LedgerEntry.objects.filter(kind="signup").count() == 1


THROTTLED = "Too many failed login attempts"


def test_sixty_wrong_passwords_then_the_right_one_is_refused(client, alice):
    statuses = [login(Client(), "alice", f"guess-{i}", address=f"10.1.{i}.1").status_code for i in range(60)]
    assert set(statuses) == {200}
    response = login(client, "alice", "pw-alice", address="10.2.0.1")
    assert response.status_code == 200 and THROTTLED in response.content.decode()
    assert client.get("/videos/").status_code == 302
    # The throttle counts the account, however its login is spelled.
    for spelling in ("alice@example.com", "ALICE", "Alice@Example.com"):
        response = login(Client(), spelling, "pw-alice", address="10.2.0.2")
        assert response.status_code == 200 and THROTTLED in response.content.decode(), spelling


def test_failed_logins_are_throttled_per_address(db, django_user_model, alice):
    for i in range(10):
        login(Client(), f"nobody{i}", "x", address="10.3.0.1")
    blocked = login(Client(), "alice", "pw-alice", address="10.3.0.1")
    assert THROTTLED in blocked.content.decode()
    assert login(Client(), "alice", "pw-alice", address="10.3.0.2").status_code == 302


def test_the_admin_login_is_throttled_too(db, django_user_model):
    django_user_model.objects.create_user("op", password="pw-op-secret", is_staff=True)
    for i in range(6):
        response = login(Client(), "op", f"guess-{i}", address=f"10.4.{i}.1", url="/admin/login/")
        assert response.status_code == 200
    response = login(Client(), "op", "pw-op-secret", address="10.4.9.1", url="/admin/login/")
    assert response.status_code == 200 and THROTTLED in response.content.decode()
    for i in range(10):
        login(Client(), f"ghost{i}", "x", address="10.5.0.1", url="/admin/login/")
    django_user_model.objects.create_user("op2", password="pw-op-secret", is_staff=True)
    response = login(Client(), "op2", "pw-op-secret", address="10.5.0.1", url="/admin/login/")
    assert THROTTLED in response.content.decode()
    assert login(Client(), "op2", "pw-op-secret", address="10.5.0.2", url="/admin/login/").status_code == 302


def test_login_by_email_and_by_username(alice):
    assert login(Client(), "alice@example.com", "pw-alice").status_code == 302
    assert login(Client(), "ALICE@example.com", "pw-alice").status_code == 302
    assert login(Client(), "alice", "pw-alice").status_code == 302


def test_seeded_demo_users_can_log_in(db, mandatory):
    call_command("seed_demo", stdout=io.StringIO())
    response = login(Client(), "demo", "demo-pass-2026")
    assert response.status_code == 302 and response.url == "/videos/"
    assert login(Client(), "admin", "admin-pass-2026", url="/admin/login/").status_code == 302


HOSTILE = [
    "",
    " ",
    "\t",
    "a" * 151,
    "a" * 100_000,
    "\x00",
    "al\x00ice",
    "'; DROP TABLE auth_user; --",
    "' OR '1'='1",
    '" OR ""="',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "{{ 7*7 }}",
    "{% debug %}",
    "${jndi:ldap://x/a}",
    "../../etc/passwd",
    "%00",
    "%s%s%s%n",
    "a\r\nBcc: victim@example.com",
    "alice\n",
    " alice ",
    "ALICE",
    "аlice",  # Cyrillic a
    "alice\u200b",
    "\u202eecila",
    "ａｌｉｃｅ",
    "💥💥💥",
    "x" * 64 + "@" + "y" * 250 + ".com",
    "@example.com",
    "alice@",
    "alice@@example.com",
    "alice@example..com",
    "alice@[127.0.0.1]",
    "alice@localhost",
    "用户@例子.广告",
    "alice@example.com\r\n",
    "alice@example.com,bob@example.com",
    '"alice"@example.com',
    "alice+tag@example.com",
    "ALICE@EXAMPLE.COM",
    "-1",
    "1e999",
    "NaN",
    "null",
    "undefined",
    "true",
    "[]",
    "{}",
    "\\",
    "\\\\server\\share",
    "é" * 200,
    "\ufeff",
    "\U0001f600" * 50,
    "a\u0301" * 80,
    "admin",
    "root",
]


def test_hostile_signup_and_login_inputs_never_answer_5xx(db, alice, mandatory, settings, django_user_model):
    settings.SIGNUPS_PER_IP_PER_HOUR = 10_000
    tried, statuses = 0, []
    for i, value in enumerate(HOSTILE):
        for field in ("username", "email", "password1"):
            overrides = {field: value, "username": f"h{i}{field[0]}", "email": f"h{i}{field[0]}@example.com"}
            overrides[field] = value
            if field == "password1":
                overrides["password2"] = value
            statuses.append(signup(Client(), address=f"10.7.{i}.{len(field)}", **overrides).status_code)
            tried += 1
        for username, password in ((value, "pw-alice"), ("alice", value)):
            statuses.append(login(Client(), username, password, address=f"10.8.{i}.{tried % 250}").status_code)
            tried += 1
    assert tried >= 5 * len(HOSTILE) >= 280
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) <= {200, 302, 429}
    # No hostile email made an account, and alice is still the only alice.
    assert django_user_model.objects.filter(email__iexact="alice@example.com").count() == 1
    assert not django_user_model.objects.filter(username__iexact="alice").exclude(pk=alice.pk).exists()


def test_password_reset_mail_is_throttled_per_address(client, alice):
    for _ in range(5):
        assert client.post("/accounts/password_reset/", {"email": "Alice@example.com"}).status_code == 302
    response = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert response.status_code == 200 and "too many requests" in response.content.decode()
    assert len(mail.outbox) == 5
