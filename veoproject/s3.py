"""django-storages settings for an S3-compatible store, built in one place
for settings.py and for the tests that switch a running app over to a store."""

from typing import Any

BACKEND = "videos.storage.S3Storage"  # django-storages' S3Storage, sharing one boto model loader


def s3_settings(
    *,
    bucket: str,
    endpoint_url: str = "",
    access_key: str = "",
    secret_key: str = "",
    region: str = "",
    url_seconds: int = 300,
    connect_timeout: float = 2.0,
    read_timeout: float = 30.0,
) -> dict[str, Any]:
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    # Up to 16 MB in one PUT (read from the spool's file as it is sent);
    # above, 8 MB parts, two in flight and two held in memory at most
    # (s3transfer holds ten by default: 80 MB). Storing a 500 MB video costs
    # a worker a few tens of MB, whatever the video's size.
    transfer = TransferConfig(
        multipart_threshold=16 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024, max_concurrency=2
    )
    transfer.max_in_memory_upload_chunks = 2  # s3transfer's own option, not in boto3's constructor
    return {
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint_url or None,
        "AWS_ACCESS_KEY_ID": access_key or None,
        "AWS_SECRET_ACCESS_KEY": secret_key or None,
        "AWS_S3_REGION_NAME": region or None,
        "AWS_DEFAULT_ACL": None,  # private objects: reached only through presigned URLs
        "AWS_QUERYSTRING_AUTH": True,
        "AWS_QUERYSTRING_EXPIRE": url_seconds,
        "AWS_S3_FILE_OVERWRITE": True,  # names are random tokens: skip the exists() round trip
        # S3-compatible stores behind an endpoint URL (SeaweedFS, MinIO) seldom
        # have per-bucket DNS names: path-style addressing. Short connect
        # timeouts so that a store that is down fails a download (retried
        # later) or /healthz quickly instead of holding a worker.
        "AWS_S3_CLIENT_CONFIG": Config(
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
        "AWS_S3_TRANSFER_CONFIG": transfer,
    }
