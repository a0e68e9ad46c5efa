"""Checking an image link before anyone is charged.

The provider fetches input images itself; a dead, private or non-image link
makes it fail the generation after the user paid (the provider's FAQ advises
checking links first). So the form fetches each link once through the
untrusted-URL policy (public hosts only, checked again at connect time and
on every redirect), reads at most IMAGE_LINK_MAX_BYTES, and accepts only a
real JPEG, PNG or WebP (Pillow verifies it). Anything else is a form error.
"""

from __future__ import annotations

import io
import logging

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from untrusted import fetch
from untrusted.urlpolicy import Policy, UrlRefused

log = logging.getLogger(__name__)

IMAGE_FORMATS = {"JPEG", "PNG", "WEBP"}
TIMEOUT = (5.0, 10.0)


class ImageLinkError(ValueError):
    """The link cannot be used as an input image; the message says why."""


def image_link_policy() -> Policy:
    """Any public host over https; IMAGE_LINK_PRIVATE_HOSTS (tests: a
    loopback image server) may be private and plain http."""
    private = list(settings.IMAGE_LINK_PRIVATE_HOSTS)
    return Policy.build("image", private_hosts=private, http_hosts=private)


def check_image_link(url: str) -> str:
    """Fetch `url` and make sure it is a picture the provider can use.
    Returns the image format; raises ImageLinkError with a plain message."""
    limit = settings.IMAGE_LINK_MAX_BYTES
    try:
        with fetch.open_stream(
            url,
            policy=image_link_policy(),
            headers={"Accept": "image/jpeg, image/png, image/webp", "Accept-Encoding": "identity"},
            timeout=TIMEOUT,
        ) as response:
            if response.status_code != 200:
                raise ImageLinkError(
                    _("The link answered %(status)s: it is dead or private. Use a public link to the image.")
                    % {"status": response.status_code}
                )
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise ImageLinkError(_too_big(limit))
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise ImageLinkError(_too_big(limit))
    except UrlRefused:
        raise ImageLinkError(_("Image links must point at a public web address.")) from None
    except fetch.FetchError as exc:
        log.info("image link %s could not be fetched: %s", url[:200], exc)
        raise ImageLinkError(_("The image could not be fetched from its link. Is it public?")) from None
    except OSError as exc:  # the connection broke while reading
        log.info("image link %s broke off: %s", url[:200], exc)
        raise ImageLinkError(_("The image could not be fetched from its link. Is it public?")) from None
    return verify_image(bytes(data))


def verify_image(data: bytes) -> str:
    """The format of `data` if it is a whole JPEG, PNG or WebP picture."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ImageLinkError(_("The link is not a picture we can use (use a JPEG, PNG or WebP image).")) from None
    if image_format not in IMAGE_FORMATS:
        raise ImageLinkError(_("The link is not a picture we can use (use a JPEG, PNG or WebP image)."))
    return image_format


def _too_big(limit: int) -> str:
    return _("The linked image is larger than %(mb)s MB.") % {"mb": limit // (1024 * 1024)}
