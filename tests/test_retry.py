"""The retry and polling policy (videos.retry): pure functions, no database."""

from datetime import timedelta

import pytest

from videos import retry


def seconds(delay: timedelta | None) -> float | None:
    return None if delay is None else delay.total_seconds()


def test_backoff_doubles_with_jitter(settings):
    settings.KIE_BACKOFF_BASE_SECONDS = 1.0
    for failures, base in enumerate((1, 2, 4, 8, 16, 32), start=1):
        delays = {seconds(retry.retry_delay("backoff", failures)) for _ in range(20)}
        assert all(0.5 * base <= d <= 1.5 * base for d in delays) and len(delays) > 1


def test_backoff_gives_up_after_six(settings):
    assert retry.retry_delay("backoff", 7) is None


def test_later_follows_the_setting_then_gives_up(settings):
    settings.KIE_RETRY_DELAYS = [30, 60, 120]
    assert [seconds(retry.retry_delay("later", n)) for n in (1, 2, 3, 4)] == [30, 60, 120, None]


def test_codes_not_retried_have_no_rule():
    assert retry.retry_delay("no", 1) is None


def test_downloads_double_from_thirty_seconds_four_times():
    assert [seconds(retry.retry_delay("download", n)) for n in range(1, 6)] == [30, 60, 120, 240, None]


def test_upgrades_wait_the_setting_until_the_last_attempt(settings):
    settings.HD_RETRY_SECONDS, settings.HD_MAX_ATTEMPTS = 25, 3
    assert [seconds(retry.retry_delay("upgrade", n)) for n in (1, 2, 3)] == [25, 25, None]


def test_no_permit_waits_for_the_window_plus_a_little_jitter():
    delays = {seconds(retry.permit_delay(4.0)) for _ in range(20)}
    assert all(4.0 <= d <= 5.0 for d in delays) and len(delays) > 1


@pytest.mark.parametrize("failures", [0, -1])
def test_a_count_below_one_is_no_retry(failures):
    assert retry.retry_delay("later", failures) is None


def test_first_poll_after_the_typical_duration(settings):
    settings.VEO_TYPICAL_SECONDS = {"veo3_fast": 150, "veo3": 240}
    settings.POLL_GRACE_SECONDS = 30
    assert retry.first_poll_delay("veo3_fast") == timedelta(seconds=180)
    assert retry.first_poll_delay("unknown") == timedelta(seconds=270)  # the slowest, to be safe


def test_poll_interval_doubles_up_to_the_cap(settings):
    settings.POLL_INTERVAL_SECONDS, settings.POLL_MAX_INTERVAL_SECONDS = 30, 300
    assert [seconds(retry.poll_interval(n)) for n in range(0, 7)] == [30, 30, 60, 120, 240, 300, 300]
