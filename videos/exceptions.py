"""Why a video request is refused (billing's refusals are in billing.exceptions)."""

from veoproject.refusals import Refusal


class UpgradeNotAvailable(Refusal):
    """The video cannot be upgraded now: not finished, not 16:9, or already
    being upgraded."""

    code = "upgrade_not_available"
    status = 409


class ExtendNotAvailable(Refusal):
    """The video cannot be extended: not finished, not the provider's, or
    already upgraded to 1080p (the provider refuses to extend those)."""

    code = "extend_not_available"
    status = 409


class NotDeletable(Refusal):
    """The video is still being made (or upgraded): deleting it now would
    race the worker that is writing its files."""

    code = "video_busy"
    status = 409
