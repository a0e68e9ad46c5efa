"""The gallery as a library: the owner deletes a video or shares it.

Writes on the owner's own collection, apart from the job's life: they never
touch the provider or the ledger.
"""

import logging
import secrets

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import storage
from ..exceptions import NotDeletable
from ..models import Job, JobImage, Upgrade

log = logging.getLogger(__name__)


def job_delete(*, job: Job) -> None:
    """Take a finished video out of its owner's gallery and remove its files
    (video, 1080p copy, poster, uploaded images) from storage. The row stays,
    hidden, so the ledger's references and the provider history still point
    somewhere; the ledger itself is untouched. A file shared with another
    job (a reused video) stays while that job uses it.

    Raises NotDeletable while the job or its upgrade is running."""
    with transaction.atomic():
        locked = (
            Job.objects.select_for_update().filter(pk=job.pk, deleted_at__isnull=True, status__in=Job.FINAL).first()
        )
        if locked is None or Upgrade.objects.filter(job=locked, status=Upgrade.Status.PENDING).exists():
            raise NotDeletable(_("This video is still being made. You can delete it when it is finished."))
        upgrade_files = list(Upgrade.objects.filter(job=locked).exclude(file="").values_list("file", flat=True))
        names = [f.name for f in (locked.video_file, locked.poster) if f] + upgrade_files
        images = list(JobImage.objects.filter(job=locked).exclude(file=""))
        Job.objects.filter(pk=locked.pk).update(deleted_at=timezone.now(), share_token=None, video_file="", poster="")
        Upgrade.objects.filter(job=locked).update(file="")
        JobImage.objects.filter(job=locked).update(file="")
        image_names = [image.file.name for image in images]

        def remove_files() -> None:
            unused = [
                name
                for name in names
                if not (
                    Job.objects.filter(Q(video_file=name) | Q(poster=name)).exists()
                    or Upgrade.objects.filter(file=name).exists()
                )
            ]
            for name in unused + image_names:
                try:
                    storage.delete(name)
                except storage.StorageError:  # the store is down: the file is orphaned, the deletion stands
                    log.warning("job %s: could not remove %s from storage", job.pk, name)

        transaction.on_commit(remove_files)
    log.info("job %s deleted by its owner", job.pk)


def job_share_toggle(*, job: Job) -> str | None:
    """Turn the public link on (a new unguessable token) or off (None, and
    the old link answers 404 for good). Only finished videos are shared.
    Returns the token now in force."""
    token = None if job.share_token else secrets.token_urlsafe(18)
    if token and job.status != Job.Status.SUCCEEDED:
        return None
    Job.objects.filter(pk=job.pk, deleted_at__isnull=True).update(share_token=token)
    job.share_token = token
    return token
