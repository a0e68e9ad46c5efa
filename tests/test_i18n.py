"""Every page in English and Simplified Chinese: the language follows the
browser and can be switched; the translation is complete."""

import shutil
import subprocess
import sys

import polib
import pytest

from .conftest import ROOT, generate_data

PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_pages_follow_the_browser_language(alice_client):
    assert "我的视频" in alice_client.get("/videos/", **ZH).content.decode()
    assert "My videos" in alice_client.get("/videos/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    for url in ("/videos/new/", "/videos/batch/", "/videos/notices/", "/billing/", "/accounts/password_change/"):
        response = alice_client.get(url, **ZH)
        assert response.status_code == 200 and 'lang="zh-hans"' in response.content.decode(), url


def test_anonymous_pages_in_chinese(client, db):
    assert "创建您的账户" in client.get("/accounts/signup/", **ZH).content.decode()
    assert "忘记密码？" in client.get("/accounts/login/", **ZH).content.decode()


def test_language_can_be_switched(alice_client):
    response = alice_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/videos/"})
    assert response.status_code == 302
    assert "我的视频" in alice_client.get("/videos/", HTTP_ACCEPT_LANGUAGE="en-US").content.decode()
    alice_client.post("/i18n/setlang/", {"language": "en", "next": "/videos/"})
    assert "My videos" in alice_client.get("/videos/").content.decode()


def test_form_errors_and_status_in_chinese(alice_client, alice, sim):
    response = alice_client.post("/videos/new/", generate_data(prompt="", seed="5"), **ZH)
    html = response.content.decode()
    assert "请描述您想要的视频。" in html and "种子必须在 10000 到 99999 之间。" in html
    from videos.models import Job

    job = Job.objects.create(user=alice, prompt="p", price_credits=10, status="submitted")
    assert alice_client.get(f"/videos/{job.pk}/status.json", **ZH).json()["status_label"] == "生成中"


def test_refusals_in_chinese(alice_client, alice, sim):
    from billing.models import Wallet

    Wallet.objects.filter(user=alice).update(daily_cap=5)
    html = alice_client.post("/videos/new/", generate_data(), **ZH).content.decode()
    assert "这会超过您每日 5 积分的消费上限" in html


def test_translation_is_complete_and_compiled():
    po = polib.pofile(str(PO))
    assert po.percent_translated() == 100, [e.msgid for e in po.untranslated_entries()]
    assert not po.fuzzy_entries()
    compiled = {e.msgid for e in polib.mofile(str(MO))}
    assert {e.msgid for e in po} <= compiled, "run: python manage.py compilemessages"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext is not installed (apt-get install gettext)")
def test_every_string_in_the_code_is_translated(tmp_path):
    """Extract the strings again from a copy of the source: none may be new."""
    # Every package of the app (new ones included without editing this list), the templates and the catalogue.
    names = [
        p.name
        for p in ROOT.iterdir()
        if p.is_dir()
        and ((p / "__init__.py").exists() or p.name in ("templates", "locale"))
        and p.name not in ("tests", "bench", "kiesim")
    ]
    for name in names:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "manage.py", tmp_path)
    env = {"DEBUG": "on", "KIE_API_BASE_URL": "http://127.0.0.1:8010", "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
    )
    fresh = polib.pofile(str(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert [e.msgid for e in fresh.untranslated_entries()] == []


def test_reasons_written_by_the_worker_are_in_the_users_language(live, sim, alice_client, alice):
    from videos.models import Job

    from .conftest import submit

    response = alice_client.post("/videos/new/", generate_data(prompt="x [sim:error=402]"), **ZH)
    job = Job.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
    job.refresh_from_db()
    assert job.language == "zh-hans" and job.error_message == "视频服务当前不可用。您的积分已退回。"
    from billing.models import BreakerState

    BreakerState.objects.update(is_open=False)  # the 402 tripped it; an operator would reset it
    english = Job.objects.get(
        pk=int(submit(alice_client, prompt="y [sim:error=402]").url.rstrip("/").rsplit("/", 1)[1])
    )
    assert english.error_message == "The video service is unavailable right now. Your credits were returned."
