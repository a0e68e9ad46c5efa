"""gunicorn settings for production (`gunicorn veoproject.wsgi -c gunicorn.conf.py`).

The load is many short requests (pages, and status.json checks from every
open job page every few seconds), each waiting a little on PostgreSQL or
Redis; video bytes never pass through here (presigned URLs or nginx's
X-Accel-Redirect). So: one process per core plus one, each with threads
that overlap those waits, and rare, staggered recycling (a recycled worker
re-imports Django and loses its warm connections: under load that shows as
a spike in p99). bench/live_pages.py and bench/slow_viewers.py measured it.
"""

import multiprocessing
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() + 1))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
backlog = 2048
keepalive = 5  # behind a load balancer that reuses connections
timeout = 60  # a request that takes longer is stuck: the worker is replaced
graceful_timeout = 30
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "50000"))  # a guard against slow leaks, not a habit
max_requests_jitter = max_requests // 5  # workers recycle at different times
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "veoproject.gunicorn_logging.RedactingLogger"  # callback tokens never reach the access log
