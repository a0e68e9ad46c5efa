"""Stored files against a real S3-compatible store (SeaweedFS on loopback)
and on local disk: store, serve, delete, a missing object, a store that is
down. Presigned URLs are checked by the store itself (it verifies
signatures), so a forged or tampered URL is refused for real."""

import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile

from videos import services, storage
from videos.models import Job, JobImage

from .conftest import png_bytes, png_upload, submit, wait_for
from .servers import free_ports

SAMPLE = (Path(__file__).resolve().parent.parent / "kiesim" / "sample.mp4").read_bytes()
S = Job.Status


def finished(client) -> Job:
    response = submit(client)
    assert response.status_code == 302
    pk = int(response.url.rstrip("/").rsplit("/", 1)[1])
    return wait_for(lambda: Job.objects.filter(pk=pk, status=S.SUCCEEDED).first(), timeout=45)


def store_is_down(settings) -> None:
    """Point the app at a port where nothing listens (and rebuild the storage)."""
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_ports(1)[0]}"
    settings.STORAGES = dict(settings.STORAGES)


def test_spool_streams_into_the_bucket_with_size_and_checksum(s3):
    data = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40_000  # ~10 MB: a multipart upload
    with storage.Spool() as spool:
        for start in range(0, len(data), 65536):
            spool.write(data[start : start + 65536])
        assert spool.head(8) == data[:8]
        stored = spool.save("videos/test/spooled.mp4")
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    body = s3.client().get_object(Bucket=s3.bucket, Key=stored.name)["Body"].read()
    assert body == data
    with storage.open_file(stored.name) as handle:
        assert handle.read(12) == data[:12]
    assert storage.exists(stored.name)


def test_video_is_stored_in_the_bucket_and_served_by_presigned_redirect(
    live, sim, s3, alice_client, bob_client, settings
):
    job = finished(alice_client)
    assert job.video_file.name in s3.keys("videos/")
    assert not (Path(settings.MEDIA_ROOT) / job.video_file.name).exists()  # not on this machine's disk
    if job.poster:  # made by ffmpeg reading the presigned URL
        assert job.poster.name in s3.keys("posters/")

    response = alice_client.get(f"/videos/{job.pk}/file")
    assert response.status_code == 302 and response["Cache-Control"] == "private, no-store"
    url = response["Location"]
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) == settings.MEDIA_URL_SECONDS
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content == SAMPLE and whole.headers["Content-Type"] == "video/mp4"
    assert hashlib.sha256(whole.content).hexdigest() == job.video_sha256
    part = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)  # the store serves ranges
    assert part.status_code == 206 and part.content == SAMPLE[100:200]

    # Only the owner gets a URL, and the store checks the signature.
    assert bob_client.get(f"/videos/{job.pk}/file").status_code == 404
    assert requests.get(f"{s3.endpoint}/{s3.bucket}/{job.video_file.name}", timeout=10).status_code == 403
    tampered = url.replace(job.video_file.name, job.video_file.name.replace(".mp4", "x.mp4"))
    assert requests.get(tampered, timeout=10).status_code == 403


def test_poster_from_the_bucket(live, sim, s3, alice_client, bob_client):
    from videos import posters

    if not posters.ffmpeg_path():
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    job = finished(alice_client)
    assert job.poster
    response = alice_client.get(f"/videos/{job.pk}/poster.jpg")
    assert response.status_code == 302
    assert requests.get(response["Location"], timeout=10).content[:2] == b"\xff\xd8"
    assert bob_client.get(f"/videos/{job.pk}/poster.jpg").status_code == 404


def test_input_images_reach_the_provider_by_presigned_url(live, sim, s3, alice_client, settings):
    response = submit(
        alice_client, generation_type="FIRST_AND_LAST_FRAMES_2_VIDEO", image_1=png_upload(), image_url_2=""
    )
    assert response.status_code == 302
    image = JobImage.objects.get()
    assert image.file.name in s3.keys("inputs/")
    (url,) = services.request_of(image.job).image_urls
    query = parse_qs(urlsplit(url).query)
    assert int(query["X-Amz-Expires"][0]) > settings.JOB_DEADLINE_SECONDS  # outlives the job
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == png_bytes()
    job = wait_for(lambda: Job.objects.filter(pk=image.job_id, status=S.SUCCEEDED).first(), timeout=45)
    # The app signed its own URL when it sent the job (a second apart from
    # `url` on a busy machine): the same object, and a link that works.
    (sent,) = sim.task(job.task_id)["body"]["imageUrls"]
    assert urlsplit(sent)._replace(query="") == urlsplit(url)._replace(query="")
    assert requests.get(sent, timeout=10).content == png_bytes()


def test_delete_removes_the_object_and_a_missing_object_is_no_error(s3):
    name = storage.save("posters/test/p.jpg", ContentFile(b"\xff\xd8jpeg"))
    assert name in s3.keys("posters/test/")
    storage.delete(name)
    assert name not in s3.keys("posters/test/") and not storage.exists(name)
    storage.delete(name)  # already gone: fine
    with pytest.raises(FileNotFoundError):
        storage.open_file(name).read()


def test_missing_object_is_a_404_from_the_store(live, sim, s3, alice_client):
    job = finished(alice_client)
    s3.client().delete_object(Bucket=s3.bucket, Key=job.video_file.name)
    response = alice_client.get(f"/videos/{job.pk}/file")
    assert response.status_code == 302
    assert requests.get(response["Location"], timeout=10).status_code == 404


def test_missing_local_file_is_a_404_not_a_500(live, sim, alice_client, settings):
    job = finished(alice_client)
    (Path(settings.MEDIA_ROOT) / job.video_file.name).unlink()
    assert alice_client.get(f"/videos/{job.pk}/file").status_code == 404


def test_store_down_fails_the_download_retryably_and_the_job_waits(live, sim, s3, alice_client, settings):
    store_is_down(settings)
    with pytest.raises(storage.StorageError):
        storage.save("posters/x.jpg", ContentFile(b"x"))
    response = submit(alice_client)
    pk = int(response.url.rstrip("/").rsplit("/", 1)[1])
    job = wait_for(lambda: Job.objects.filter(pk=pk, status=S.DOWNLOADING, next_attempt_at__isnull=False).first())
    assert job.attempts == 1 and not job.video_file  # it will be tried again, nothing lost
    assert not job.error_message


def test_local_storage_behind_nginx_answers_x_accel_redirect(live, sim, alice_client, bob_client, settings):
    job = finished(alice_client)
    settings.MEDIA_X_ACCEL_PREFIX = "/internal-media/"
    response = alice_client.get(f"/videos/{job.pk}/file")
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == f"/internal-media/{job.video_file.name}"
    assert response["Content-Type"] == "video/mp4"
    assert bob_client.get(f"/videos/{job.pk}/file").status_code == 404


def test_local_storage_in_development_streams_ranges(live, sim, alice_client):
    job = finished(alice_client)
    response = alice_client.get(f"/videos/{job.pk}/file", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 206 and b"".join(response.streaming_content) == SAMPLE[:10]


def test_pages_may_load_videos_and_posters_from_the_store():
    """The players follow the redirect to the store: the CSP must allow it."""
    import os
    import subprocess
    import sys

    script = (
        "import django; django.setup(); from django.conf import settings as s;"
        "d = s.CONTENT_SECURITY_POLICY['DIRECTIVES']; print(d['media-src'][-1], d['img-src'][-1])"
    )
    env = {**os.environ, "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "https://s3.example.com:9000/"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["https://s3.example.com:9000", "https://s3.example.com:9000"]
