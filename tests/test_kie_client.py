"""The provider client against the simulator process, and the parsers
against recorded payloads of every documented shape."""

import json
import socket
from datetime import UTC, datetime

import pytest

from videos import kie
from videos.kie import KieClient, KieError, parse_callback, parse_status
from videos.vocabulary import ImageInput, VideoRequest


@pytest.fixture
def client(sim):
    return KieClient(base_url=sim.url, api_key="test-key", read_timeout=5)


def test_generate_sends_every_parameter(client, sim):
    calls = []
    request = VideoRequest(
        prompt="A fox in snow",
        model="veo3_fast",
        generation_type="REFERENCE_2_VIDEO",
        images=(ImageInput(url="https://example.com/a.png"),),
        aspect_ratio="9:16",
        seed=12345,
        enable_translation=False,
        watermark="ACME",
        resolution="1080p",
    )
    task_id = client.generate(request, callback_url="https://app.example.com/hooks/kie/t/", record=calls.append)
    assert len(task_id) == 32
    body = sim.task(task_id)["body"]
    assert body == {
        "prompt": "A fox in snow",
        "model": "veo3_fast",
        "generationType": "REFERENCE_2_VIDEO",
        "aspectRatio": "9:16",
        "aspect_ratio": "9:16",
        "enableTranslation": False,
        "imageUrls": ["https://example.com/a.png"],
        "seeds": 12345,
        "callBackUrl": "https://app.example.com/hooks/kie/t/",
        "watermark": "ACME",
        "resolution": "1080p",
    }
    assert calls[0].endpoint == "POST /api/v1/veo/generate" and calls[0].code == 200


def test_the_api_key_is_sent_as_bearer_and_never_shown(sim, caplog):
    sim.config(api_key="right-key")
    with pytest.raises(KieError) as info:
        KieClient(base_url=sim.url, api_key="wrong-key").generate(VideoRequest(prompt="x"))
    assert info.value.code == 401 and info.value.handling.breaker and not info.value.retryable
    assert KieClient(base_url=sim.url, api_key="right-key").generate(VideoRequest(prompt="x"))
    assert "wrong-key" not in caplog.text and "right-key" not in caplog.text
    assert "right-key" not in repr(KieClient(base_url=sim.url, api_key="right-key"))


@pytest.mark.parametrize(
    "code, retryable, refund, breaker",
    [
        (402, False, True, True),
        (422, False, True, False),
        (429, True, False, False),
        (455, True, False, False),
        (500, True, False, False),
        (501, False, True, False),
        (505, False, True, True),
    ],
)
def test_each_error_code_is_classified(client, sim, code, retryable, refund, breaker):
    sim.config(generate_error=code)
    with pytest.raises(KieError) as info:
        client.generate(VideoRequest(prompt="x"))
    assert info.value.code == code
    assert (info.value.retryable, info.value.handling.refund, info.value.handling.breaker) == (
        retryable,
        refund,
        breaker,
    )
    assert not info.value.maybe_delivered


def test_error_code_inside_http_200_is_an_error(client, sim):
    sim.config(generate_error=422, error_in_200=True)
    with pytest.raises(KieError) as info:
        client.generate(VideoRequest(prompt="x"))
    assert info.value.code == 422


def test_provider_validation_message_is_kept(client):
    with pytest.raises(KieError) as info:
        client.generate(
            VideoRequest(
                prompt="x",
                generation_type="REFERENCE_2_VIDEO",
                model="veo3",
                images=(ImageInput(url="https://e.com/a.png"),),
            )
        )
    assert info.value.code == 422 and "veo3_fast" in info.value.message


def test_refused_connection_is_retryable_and_not_delivered():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(KieError) as info:
        KieClient(base_url=f"http://127.0.0.1:{port}", api_key="k", connect_timeout=1).generate(
            VideoRequest(prompt="x")
        )
    assert info.value.retryable and not info.value.maybe_delivered and info.value.code is None


def test_read_timeout_may_have_been_delivered(sim):
    sim.config(latency=1.0)
    with pytest.raises(KieError) as info:
        KieClient(base_url=sim.url, api_key="k", read_timeout=0.2).generate(VideoRequest(prompt="x"))
    assert info.value.maybe_delivered


def test_status_endpoints_follow_a_task(client, sim):
    sim.config(delay=0.2)
    task_id = client.generate(VideoRequest(prompt="x"))
    assert client.record_info(task_id).state == "pending"
    assert client.query(task_id).state == "pending"
    import time

    time.sleep(0.3)
    for result in (client.record_info(task_id), client.query(task_id)):
        assert result.state == "succeeded" and result.task_id == task_id
        assert result.video_url.endswith(f"/files/{task_id}.mp4")
        assert result.created_at is not None and result.completed_at is not None


def test_unknown_task_is_an_error(client):
    with pytest.raises(KieError) as info:
        client.record_info("0" * 32)
    assert info.value.code == 422


def test_credits(client, sim):
    assert client.credits() == 100000
    client.generate(VideoRequest(prompt="x"))
    assert client.credits() == 100000 - 60


def test_1080p_is_processing_then_ready(client, sim):
    sim.config(delay=0, hd_delay=0.3)
    task_id = client.generate(VideoRequest(prompt="x"))
    with pytest.raises(KieError) as info:
        client.get_1080p(task_id)
    assert info.value.retryable
    import time

    time.sleep(0.35)
    assert client.get_1080p(task_id).endswith("-1080p.mp4")


# --- recorded shapes ----------------------------------------------------------

TASK = "a" * 32


def test_nested_success_callback_with_url_array():
    body = {
        "code": 200,
        "msg": "ok",
        "data": {
            "taskId": TASK,
            "info": {"resultUrls": ["https://x/v.mp4"], "resolution": "1080p"},
            "promptJson": {"p": 1},
        },
    }
    result = parse_callback(body)
    assert (result.state, result.video_url, result.resolution) == ("succeeded", "https://x/v.mp4", "1080p")


def test_nested_success_callback_with_url_json_string():
    body = {
        "code": 200,
        "msg": "ok",
        "data": {"taskId": TASK, "info": {"resultUrls": json.dumps(["https://x/v.mp4"])}, "promptJson": '{"p": 1}'},
    }
    assert parse_callback(body).video_url == "https://x/v.mp4"


@pytest.mark.parametrize("code", [400, 422, 500, 501])
def test_nested_failure_callback(code):
    body = {
        "code": code,
        "msg": "Your prompt was flagged by content policies.",
        "data": {"taskId": TASK, "fallbackFlag": False},
    }
    result = parse_callback(body)
    assert result.state == "failed" and result.error_code == code and "flagged" in result.error_message


def test_flat_callbacks():
    ok = parse_callback(
        {
            "taskId": TASK,
            "successFlag": 1,
            "videoUrl": "https://x/v.mp4",
            "createdAt": 1764000000000,
            "completedAt": "2026-11-24 10:00:00",
        }
    )
    assert ok.state == "succeeded" and ok.created_at == datetime.fromtimestamp(1764000000, UTC)
    assert ok.completed_at == datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    for flag in (2, 3):
        assert parse_callback({"taskId": TASK, "successFlag": flag}).state == "failed"
    assert parse_callback({"taskId": TASK, "successFlag": 0}).state == "pending"


def test_success_flag_without_url_keeps_waiting():
    data = {"taskId": TASK, "successFlag": 1, "response": {"resultUrls": []}}
    assert parse_status(data, task_id=TASK).state == "pending"
    assert parse_callback({"code": 200, "data": {"taskId": TASK, "info": {"resultUrls": "[]"}}}).state == "pending"


def test_record_info_shape_with_failure_message():
    data = {
        "taskId": TASK,
        "successFlag": 3,
        "errorCode": 501,
        "errorMessage": "Generation failed: unsafe",
        "createTime": "2026-11-24T10:00:00Z",
    }
    result = parse_status(data, task_id=TASK)
    assert (result.state, result.error_code, result.error_message) == ("failed", 501, "Generation failed: unsafe")


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"hello": "world"},
        {"taskId": TASK, "successFlag": 7},
        {"taskId": "../../etc", "successFlag": 1},
        {"code": "200", "data": {"taskId": TASK}},
        {"code": 200, "data": {}},
        {"successFlag": True, "taskId": TASK},
    ],
)
def test_malformed_callbacks_are_refused(body):
    with pytest.raises(kie.BadPayload):
        parse_callback(body)


def test_only_http_urls_are_taken_from_answers():
    body = {"code": 200, "data": {"taskId": TASK, "info": {"resultUrls": ["file:///etc/passwd", 5, "https://x/v.mp4"]}}}
    assert parse_callback(body).video_urls == ("https://x/v.mp4",)
