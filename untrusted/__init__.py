"""Everything that touches an address someone else chose.

`urlpolicy` decides whether a URL may be fetched (one parse, one set of
rules); `fetch` fetches it with the same rules enforced again at connect
time and on every redirect hop. Downloads of provider results, input-image
links and user webhooks all go through here, so there is one policy to
reason about rather than one per caller.
"""

from .urlpolicy import CheckedUrl, Policy, UrlRefused, address_is_public, check

__all__ = ["CheckedUrl", "Policy", "UrlRefused", "address_is_public", "check"]
