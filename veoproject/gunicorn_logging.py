"""gunicorn's access log without secret URL tokens.

gunicorn writes the request line itself, outside Django's logging, so the
callback token in `/hooks/kie/<token>/` needs redacting here too (see
videos.logfilters, which holds the one rule).
"""

from gunicorn.glogging import Logger

from videos.logfilters import redact


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time) -> dict:
        return {
            key: redact(value) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }
