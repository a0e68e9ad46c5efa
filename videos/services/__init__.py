"""Every state change of a video job, one module per stage of its life.

A job moves queued → submitting → submitted → downloading → succeeded, or to
failed from any active state:

- create:   admit and charge a request (or reuse an identical video)
- submit:   send it to the provider; what a provider refusal means
- settle:   apply a result (callback or poll), or fail and refund
- download: copy the video into our storage, with a poster
- upgrade:  derived work made from a finished video (Upgrade rows: 1080p, 4K)
- extend:   a new job that continues a finished video
- sweep:    the scheduled safety net (due polls, deadlines, lost work)
- operator: an operator's retry and refund
- library:  the owner deletes a finished video or shares it by link

Below them sit videos.queue (enqueue, the provider-call recorder),
videos.dispatch (running slots, provider permits) and videos.retry (when to
try again); none of those imports a service. The names below are the
package's public face for views, tasks, the admin and tests.
"""

from .create import find_reusable, job_create, request_of
from .download import job_download
from .extend import extend_refusal, job_extend
from .library import job_delete, job_share_toggle
from .operator import job_refund, job_retry
from .settle import in_language_of, job_apply_result, job_callback, job_expire, job_fail, job_poll
from .submit import callback_url, job_submit, user_message
from .sweep import jobs_tick
from .upgrade import upgrade_callback, upgrade_expire, upgrade_fail, upgrade_fetch, upgrade_request

__all__ = [
    "callback_url",
    "find_reusable",
    "in_language_of",
    "job_apply_result",
    "job_callback",
    "job_create",
    "job_delete",
    "job_download",
    "job_expire",
    "job_extend",
    "extend_refusal",
    "job_fail",
    "job_poll",
    "job_refund",
    "job_retry",
    "job_share_toggle",
    "job_submit",
    "jobs_tick",
    "request_of",
    "upgrade_callback",
    "upgrade_expire",
    "upgrade_fail",
    "upgrade_fetch",
    "upgrade_request",
    "user_message",
]
