"""gunicorn settings for production (`gunicorn veoproject.wsgi -c gunicorn.conf.py`)."""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
timeout = 60  # a request that takes longer is stuck: the worker is replaced
graceful_timeout = 30
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "veoproject.gunicorn_logging.RedactingLogger"  # callback tokens never reach the access log
