"""Settings come from the environment with safe defaults and clear errors."""

import os
import subprocess
import sys

from .conftest import ROOT


def load_settings(**env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "DEBUG", "SECRET_KEY", "DATABASE_URL"))}
    clean.update(env, DJANGO_SETTINGS_MODULE="veoproject.settings")
    code = "import django; django.setup(); from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.KIE_API_BASE_URL)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_missing_api_key_with_the_real_provider_is_a_clear_error():
    result = load_settings(DEBUG="on")
    assert result.returncode != 0
    assert "KIE_API_KEY is not set but KIE_API_BASE_URL is https://api.kie.ai" in result.stderr


def test_simulator_needs_no_key_and_debug_cookies_are_not_secure():
    result = load_settings(DEBUG="on", KIE_API_BASE_URL="http://127.0.0.1:8010")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "http://127.0.0.1:8010"]


def test_production_cookies_are_secure():
    result = load_settings(DEBUG="off", SECRET_KEY="s" * 50, KIE_API_KEY="real-key")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "https://api.kie.ai"]


def test_debug_off_needs_a_secret_key():
    result = load_settings(DEBUG="off", KIE_API_KEY="real-key")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    # (The browser tests let the test process make ORM calls beside Playwright's loop; not production.)
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KIE_", "DEBUG", "SECRET_KEY", "DATABASE_URL", "SECURE_", "DJANGO_ALLOW_ASYNC"))
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="veoproject.settings",
        DEBUG="off",
        SECRET_KEY="a-long-random-production-secret-key-0123456789-abcdefghijk",
        KIE_API_KEY="real-key",
        ALLOWED_HOSTS="veo.example.com",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_static_files_are_hashed_and_compressed_for_production(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIE_", "DEBUG", "SECRET_KEY", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="veoproject.settings", DEBUG="off", SECRET_KEY="s" * 50, KIE_API_KEY="k")
    env.update(STATIC_ROOT=str(tmp_path), STATIC_MANIFEST="on")
    code = (
        "import django; django.setup();"
        "from django.core.management import call_command; call_command('collectstatic', '--no-input', verbosity=0);"
        "from django.templatetags.static import static; print(static('css/app.css'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    hashed = result.stdout.strip().rsplit("/", 1)[-1]
    assert hashed.startswith("app.") and hashed.endswith(".css") and hashed != "app.css"
    assert (tmp_path / "css" / hashed).exists() and (tmp_path / "css" / (hashed + ".gz")).exists()
