"""Sign-up with the signup grant, log in and out, password change and reset."""

import re

from django.core import mail

from billing.models import LedgerEntry
from billing.selectors import balance_of


def signup(client, **overrides):
    data = {
        "username": "carol",
        "email": "carol@example.com",
        "password1": "a-Long-pass-9",
        "password2": "a-Long-pass-9",
    }
    data.update(overrides)
    return client.post("/accounts/signup/", data)


def test_signup_logs_in_and_grants_credits(client, db, django_user_model, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"  # with verification see test_signup_abuse.py
    response = signup(client)
    assert response.status_code == 302 and response.url == "/videos/"
    user = django_user_model.objects.get(username="carol")
    assert balance_of(user.pk) == settings.SIGNUP_GRANT_CREDITS
    assert LedgerEntry.objects.get(user=user).kind == "signup"
    assert client.get("/videos/").status_code == 200
    assert f'data-balance="{settings.SIGNUP_GRANT_CREDITS}"' in client.get("/billing/").content.decode()


def test_default_signup_grant_pays_for_five_fast_videos(db):
    from django.conf import settings

    from billing.models import Price

    assert 5 * Price.objects.get(code="veo3_fast").credits <= settings.SIGNUP_GRANT_CREDITS


def test_signup_errors_are_shown_and_nothing_is_created(client, db, django_user_model, alice):
    for overrides, text in [
        ({"password2": "different-Pass-9"}, "didn’t match"),
        ({"email": "not-an-email"}, "valid email"),
        ({"email": "ALICE@example.com"}, "exists already"),
        ({"username": "alice"}, "already exists"),
        ({"password1": "123", "password2": "123"}, "too short"),
    ]:
        response = signup(client, **overrides)
        assert response.status_code == 200
        assert text in response.content.decode(), overrides
    assert not django_user_model.objects.filter(username="carol").exists()


def test_login_and_logout_by_post(client, alice):
    page = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice"})
    assert page.status_code == 302
    assert client.get("/accounts/logout/").status_code == 405  # logging out is a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/videos/").status_code == 302


def test_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()


def test_password_change(alice_client, client):
    response = alice_client.post(
        "/accounts/password_change/",
        {"old_password": "pw-alice", "new_password1": "new-Secret-77", "new_password2": "new-Secret-77"},
    )
    assert response.status_code == 302
    alice_client.post("/accounts/logout/")
    assert client.login(username="alice", password="new-Secret-77")


def test_password_reset_by_email(client, alice):
    client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/reset/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": "reset-Pass-55", "new_password2": "reset-Pass-55"}
    )
    assert response.status_code == 302
    assert client.login(username="alice", password="reset-Pass-55")
