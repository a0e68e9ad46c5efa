"""User webhooks: final states of videos and upgrades POSTed to a receiving
server on loopback, which verifies every Standard Webhooks signature with the
`standardwebhooks` library; retries by rescheduling; the URL policy; the
/account/ sections for tokens and the webhook."""

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.test import Client
from django.utils import timezone
from standardwebhooks import Webhook

from api.models import ApiToken, WebhookDelivery
from api.outbound import UrlRefused, check_webhook_url
from api.services import token_create
from api.webhooks import webhook_deliver, webhooks_due

from .conftest import wait_for

BODY = {"prompt": "A paper boat drifting down a rainy street, close-up, soft light"}


class Receiver:
    """A user's webhook endpoint: answers `statuses` in turn (then 200) and
    keeps what it received."""

    def __init__(self):
        self.received: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.received.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/veo"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def verified(self, secret: str) -> list[dict]:
        """Every received event, each checked against its signature."""
        events = []
        for item in self.received:
            headers = {k: item["headers"][k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
            events.append(Webhook(secret).verify(item["body"], headers))
        return events

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.USER_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    r = Receiver()
    yield r
    r.close()


def set_webhook(client, url: str) -> str:
    """Save the URL on /account/webhook/ and read the secret off the page."""
    response = client.post("/account/webhook/", {"url": url})
    assert response.status_code == 302, response.content.decode()
    html = client.get("/account/webhook/").content.decode()
    return re.search(r'data-webhook-secret="(whsec_[^"]+)"', html).group(1)


def create_video(live, raw: str, prompt: str = BODY["prompt"]) -> int:
    response = requests.post(
        f"{live.url}/api/v1/videos", json={"prompt": prompt}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_final_states_are_posted_signed_to_the_users_webhook(live, alice, alice_client, receiver):
    secret = set_webhook(alice_client, receiver.url)
    raw = token_create(user=alice, name="t")[1]
    ok_id = create_video(live, raw)
    failed_id = create_video(live, raw, prompt="A storm at sea [sim:fail]")
    wait_for(lambda: len(receiver.received) == 2, timeout=20)
    events = {event["data"]["id"]: event for event in receiver.verified(secret)}
    ok, failed = events[ok_id], events[failed_id]
    assert ok["type"] == "video.succeeded" and ok["data"]["status"] == "succeeded" and ok["data"]["error"] is None
    assert ok["data"]["video_url"] == f"{live.url}/api/v1/videos/{ok_id}/file" and ok["timestamp"]
    assert requests.get(ok["data"]["video_url"], headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert failed["type"] == "video.failed" and failed["data"]["video_url"] is None and failed["data"]["error"]
    assert set(failed["data"]) == {"id", "status", "video_url", "error"}
    with pytest.raises(Exception, match="signature"):  # another secret does not verify
        Receiver.verified(receiver, "whsec_" + "A" * 44)
    log = alice_client.get("/account/webhook/").content.decode()
    assert log.count('data-state="delivered"') == 2 and "video.failed" in log


def test_a_failed_delivery_is_retried_later_under_the_same_id(live, alice, alice_client, receiver):
    secret = set_webhook(alice_client, receiver.url)
    receiver.statuses = [500]
    create_video(live, token_create(user=alice, name="t")[1])
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(attempts=1, last_status=500).first(), timeout=20)
    assert delivery.state == "pending" and delivery.next_attempt_at > timezone.now()  # not slept on: rescheduled
    assert webhooks_due() == 0  # not due yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert webhooks_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 2 and delivery.last_status == 200
    first, second = receiver.received
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == delivery.msg_id
    assert receiver.verified(secret)[0] == receiver.verified(secret)[1]


def test_delivery_gives_up_after_the_last_retry(live, alice, alice_client, receiver, settings):
    settings.USER_WEBHOOK_RETRY_DELAYS = [1]
    set_webhook(alice_client, receiver.url)
    receiver.statuses = [503, 503, 503]
    create_video(live, token_create(user=alice, name="t")[1])
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(attempts=1, lease_until__isnull=True).first(), timeout=20
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhooks_due()
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2 and delivery.last_error == "HTTP 503"
    assert webhooks_due() == 0 and len(receiver.received) == 2


def test_a_failed_upgrade_is_announced_with_its_reason(live, alice, alice_client, receiver, sim, settings):
    sim.config(hd_delay=1000)
    settings.HD_MAX_ATTEMPTS = 1
    secret = set_webhook(alice_client, receiver.url)
    video_id = create_video(live, token_create(user=alice, name="t")[1])
    wait_for(lambda: len(receiver.received) == 1, timeout=20)
    alice_client.post(f"/videos/{video_id}/upgrade/")
    wait_for(lambda: len(receiver.received) == 2, timeout=20)
    upgrade = receiver.verified(secret)[1]
    assert upgrade["type"] == "upgrade.failed" and upgrade["data"]["id"] == video_id
    assert upgrade["data"]["video_url"] is None and "1080p" in upgrade["data"]["error"]


def test_an_upgrade_is_announced(live, alice, alice_client, receiver, sim):
    sim.config(hd_delay=0)
    secret = set_webhook(alice_client, receiver.url)
    raw = token_create(user=alice, name="t")[1]
    video_id = create_video(live, raw)
    wait_for(lambda: len(receiver.received) == 1, timeout=20)
    alice_client.post(f"/videos/{video_id}/upgrade/")
    wait_for(lambda: len(receiver.received) == 2, timeout=20)
    upgrade = receiver.verified(secret)[1]
    assert upgrade["type"] == "upgrade.succeeded" and upgrade["data"]["id"] == video_id
    assert upgrade["data"]["video_url"].endswith(f"/api/v1/videos/{video_id}/file?quality=1080p")
    hd = requests.get(upgrade["data"]["video_url"], headers={"Authorization": f"Bearer {raw}"})
    assert hd.status_code == 200 and hd.content[4:8] == b"ftyp"


def test_each_final_state_is_announced_once(alice, alice_client, receiver):
    from api.webhooks import on_job_finished
    from videos.models import Job

    set_webhook(alice_client, receiver.url)
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="failed", error_message="no")
    for _ in range(3):
        on_job_finished(None, job_id=job.pk, kind="failed")
    assert WebhookDelivery.objects.count() == 1


def test_no_webhook_no_delivery(live, alice):
    create_video(live, token_create(user=alice, name="t")[1])
    assert not WebhookDelivery.objects.exists()


# --- the URL policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",  # loopback (not listed in this test)
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "http://93.184.216.34/hook",  # public, but plain http
        "https://user:pw@93.184.216.34/hook",
        "ftp://93.184.216.34/hook",
        "https://93.184.216.34\\@127.0.0.1/hook",
    ],
)
def test_private_or_odd_webhook_urls_are_refused(alice_client, url):
    with pytest.raises(UrlRefused):
        check_webhook_url(url)
    response = alice_client.post("/account/webhook/", {"url": url})
    assert response.status_code == 400 and b"errorlist" in response.content


def test_a_public_https_url_passes_and_listed_hosts_may_be_private(settings):
    assert check_webhook_url("https://93.184.216.34/hook").host == "93.184.216.34"
    settings.USER_WEBHOOK_PRIVATE_HOSTS = ["127.0.0.1"]
    assert check_webhook_url("http://127.0.0.1:8123/hook").port == 8123


def test_the_policy_is_checked_again_when_sending(live, alice, alice_client, receiver, settings):
    set_webhook(alice_client, receiver.url)
    settings.USER_WEBHOOK_PRIVATE_HOSTS = []
    create_video(live, token_create(user=alice, name="t")[1])
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(attempts=1, lease_until__isnull=True).first(), timeout=20
    )
    assert delivery.state == "pending" and "https" in delivery.last_error and not receiver.received


def test_redirects_are_not_followed(live, alice, alice_client, receiver):
    secret = set_webhook(alice_client, receiver.url)
    receiver.statuses = [302]
    create_video(live, token_create(user=alice, name="t")[1])
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(attempts=1, lease_until__isnull=True).first(), timeout=20
    )
    assert delivery.state == "pending" and delivery.last_status == 302 and len(receiver.verified(secret)) == 1


# --- /account/ ------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_listed_by_its_prefix(alice, alice_client):
    response = alice_client.post("/account/tokens/", {"name": "laptop", "read_only": "on"})
    raw = re.search(r"<code data-new-token>(veo_[^<]+)</code>", response.content.decode()).group(1)
    token = ApiToken.objects.get(user=alice)
    assert token.name == "laptop" and token.read_only and response["Cache-Control"] == "no-store"
    page = alice_client.get("/account/").content.decode()
    assert raw not in page and token.prefix in page and "data-webhook-secret" in page
    assert alice_client.post("/account/tokens/", {"name": ""}).status_code == 400


def test_tokens_are_revoked_by_their_owner_only(alice, bob, alice_client, bob_client):
    token = token_create(user=alice, name="t")[0]
    bob_client.post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is None
    alice_client.post(f"/account/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_account_pages_need_a_login_and_a_csrf_token(alice, db):
    assert Client().get("/account/").status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post("/account/tokens/", {"name": "x"}).status_code == 403
    assert strict.post("/account/webhook/rotate/").status_code == 403
    assert not ApiToken.objects.exists()


def test_rotating_the_secret_changes_the_signature(alice, alice_client, receiver):
    first = set_webhook(alice_client, receiver.url)
    alice_client.post("/account/webhook/rotate/")
    second = re.search(r'data-webhook-secret="(whsec_[^"]+)"', alice_client.get("/account/").content.decode()).group(1)
    assert first != second and second.startswith("whsec_")


def test_the_payload_is_compact_json(alice, alice_client, receiver):
    from api.webhooks import on_job_finished
    from videos.models import Job

    secret = set_webhook(alice_client, receiver.url)
    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="failed", error_message="no")
    on_job_finished(None, job_id=job.pk, kind="failed")
    webhook_deliver(WebhookDelivery.objects.get().pk)  # on commit, outside this test's transaction
    event = receiver.verified(secret)[0]
    assert json.loads(receiver.received[0]["body"]) == event and event["data"]["error"] == "no"


def test_the_developer_sections_are_in_chinese(alice_client):
    import polib

    from .conftest import ROOT

    html = alice_client.get("/account/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "API 令牌" in html and "签名密钥" in html
    po = polib.pofile(str(ROOT / "api" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert po.percent_translated() == 100 and not po.fuzzy_entries()
    compiled = {e.msgid for e in polib.mofile(str(ROOT / "api" / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.mo"))}
    assert {e.msgid for e in po} <= compiled


def test_operators_see_tokens_without_secrets_and_can_revoke(alice, admin_client):
    token, raw = token_create(user=alice, name="laptop")
    page = admin_client.get("/admin/api/apitoken/").content.decode()
    assert token.prefix in page and raw not in page and token.secret_hash not in page
    detail = admin_client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert token.secret_hash not in detail
    admin_client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert admin_client.get("/admin/api/webhookdelivery/").status_code == 200


def test_retries_follow_the_current_url_and_stop_when_it_is_removed(live, alice, alice_client, receiver):
    set_webhook(alice_client, receiver.url)
    receiver.statuses = [500]
    create_video(live, token_create(user=alice, name="t")[1])
    delivery = wait_for(lambda: WebhookDelivery.objects.filter(attempts=1, lease_until__isnull=True).first())
    moved = receiver.url.replace("/hooks/veo", "/moved")
    set_webhook(alice_client, moved)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.url == moved
    second = WebhookDelivery.objects.create(
        user=alice, event_key="x", msg_id="msg_x", event_type="video.failed", url=moved, payload={}
    )
    WebhookDelivery.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    alice_client.post("/account/webhook/", {"url": ""})
    assert webhook_deliver(second.pk) is False
    second.refresh_from_db()
    assert second.state == "failed" and "removed" in second.last_error


def test_housekeeping_forgets_old_keys_and_deliveries(alice):
    from api.models import IdempotencyKey
    from api.webhooks import webhooks_housekeeping

    old = timezone.now() - timedelta(days=40)
    IdempotencyKey.objects.create(user=alice, key="old", body_sha256="x")
    IdempotencyKey.objects.create(user=alice, key="new", body_sha256="x")
    IdempotencyKey.objects.filter(key="old").update(created_at=old)
    for state in ("delivered", "pending"):
        d = WebhookDelivery.objects.create(
            user=alice, event_key=state, msg_id=f"msg_{state}", event_type="video.failed", url="https://x", payload={}
        )
        WebhookDelivery.objects.filter(pk=d.pk).update(created_at=old, state=state)
    assert webhooks_housekeeping() == {"idempotency_keys": 1, "deliveries": 1}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert list(WebhookDelivery.objects.values_list("state", flat=True)) == ["pending"]


def test_the_webhook_can_be_set_and_read_through_the_api(live, alice, receiver):
    raw = token_create(user=alice, name="t")[1]
    headers = {"Authorization": f"Bearer {raw}"}
    url = f"{live.url}/api/v1/webhook"
    refused = requests.put(url, json={"url": "https://10.0.0.1/hook"}, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == "url"
    saved = requests.put(url, json={"url": receiver.url}, headers=headers)
    assert saved.status_code == 200 and saved.json() == {"url": receiver.url, "deliveries": []}
    video_id = create_video(live, raw)
    wait_for(lambda: requests.get(url, headers=headers).json()["deliveries"], timeout=20)
    log = wait_for(
        lambda: [d for d in requests.get(url, headers=headers).json()["deliveries"] if d["state"] == "delivered"]
    )
    assert log[0]["video_id"] == video_id and log[0]["type"] == "video.succeeded" and log[0]["last_status"] == 200
    assert "secret" not in requests.get(url, headers=headers).text
    read_only = token_create(user=alice, name="ro", read_only=True)[1]
    denied = requests.put(url, json={"url": ""}, headers={"Authorization": f"Bearer {read_only}"})
    assert denied.status_code == 403
    assert requests.put(url, json={"url": ""}, headers=headers).json()["url"] == ""


def test_a_reused_video_is_announced_too(live, alice, alice_client, receiver):
    secret = set_webhook(alice_client, receiver.url)
    raw = token_create(user=alice, name="t")[1]
    headers = {"Authorization": f"Bearer {raw}"}
    body = {"prompt": BODY["prompt"], "seed": 24680}
    first = requests.post(f"{live.url}/api/v1/videos", json=body, headers=headers).json()
    wait_for(lambda: len(receiver.received) == 1, timeout=20)
    again = requests.post(f"{live.url}/api/v1/videos", json=body, headers=headers).json()
    assert again["status"] == "succeeded" and again["id"] != first["id"]  # reused: final at once
    wait_for(lambda: len(receiver.received) == 2, timeout=20)
    events = receiver.verified(secret)
    assert [e["data"]["id"] for e in events] == [first["id"], again["id"]]
    assert {e["type"] for e in events} == {"video.succeeded"}
