"""Keep secret URL tokens out of log lines.

A job's callback URL is its own credential (`/hooks/kie/<token>/`): whoever
holds it can settle the job. Django's request logging ("Bad Request:
/hooks/kie/…", "Not Found: …"), the development server's request lines and
gunicorn's access log all print the path, so every log record passes
through this filter, which replaces the token before anything is written.
"""

import logging
import re

_CALLBACK_PATH = re.compile(r"(/hooks/kie/(?:upgrade/)?)[^/\s?\"']+")
REDACTED = r"\1<redacted>"


def redact(text: str) -> str:
    """`text` with every callback token replaced."""
    return _CALLBACK_PATH.sub(REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites the record's message with tokens redacted (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string is the logger's problem, not ours
            return True
        if "/hooks/kie/" in message:
            record.msg = redact(message)
            record.args = ()
        return True
