"""Local storage behind Debian's nginx, as docs/deployment.md sets it up:
gunicorn checks the owner and answers X-Accel-Redirect; nginx sends the
bytes from an internal location that nobody can request directly."""

from pathlib import Path

import pytest
import requests

from videos.models import Job

from .conftest import submit, wait_for
from .servers import Gunicorn, Nginx, app_locations, database_url, nginx_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not nginx_binary(), reason="nginx is not installed (apt-get install nginx)"),
]

SAMPLE = (Path(__file__).resolve().parent.parent / "kiesim" / "sample.mp4").read_bytes()
PREFIX = "/protected-media/"


@pytest.fixture
def front(live, settings):
    web = Gunicorn(
        {
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "MEDIA_X_ACCEL_PREFIX": PREFIX,
            "WEB_CONCURRENCY": "1",
        }
    ).start()
    web.wait()
    nginx = Nginx(app_locations(media_root=str(settings.MEDIA_ROOT), prefix=PREFIX), upstream_port=web.port)
    try:
        yield nginx.start()
    finally:
        nginx.stop()
        web.stop()


def cookie(client) -> dict[str, str]:
    return {"sessionid": client.cookies["sessionid"].value}


def test_video_bytes_come_from_nginx_only_after_the_owner_check(front, sim, alice_client, bob_client):
    response = submit(alice_client)
    pk = int(response.url.rstrip("/").rsplit("/", 1)[1])
    job = wait_for(lambda: Job.objects.filter(pk=pk, status=Job.Status.SUCCEEDED).first(), timeout=20)
    url = f"{front.url}/videos/{job.pk}/file"

    whole = requests.get(url, cookies=cookie(alice_client), timeout=10)
    assert whole.status_code == 200 and whole.content == SAMPLE
    assert whole.headers["Content-Type"] == "video/mp4" and "X-Accel-Redirect" not in whole.headers
    part = requests.get(url, cookies=cookie(alice_client), headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206 and part.content == SAMPLE[10:20]  # nginx serves ranges

    assert requests.get(url, cookies=cookie(bob_client), timeout=10).status_code == 404
    anonymous = requests.get(url, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous.headers["Location"]
    # The internal location itself: not found, with or without a session.
    direct = f"{front.url}{PREFIX}{job.video_file.name}"
    assert requests.get(direct, timeout=10).status_code == 404
    assert requests.get(direct, cookies=cookie(alice_client), timeout=10).status_code == 404
