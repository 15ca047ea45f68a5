"""The Telegram-file-URL guard and the code-to-error table (pure parts; HTTP paths in test_client)."""

from __future__ import annotations

import traceback

import pytest

from kiebot.kie import errors
from kiebot.kie.guard import find_telegram_file_url, refuse_telegram_file_urls

TOKEN_URL = "https://api.telegram.org/file/bot123456:SECRET-token-abcdef/photos/file_1.jpg"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"input": {"image_urls": ["https://ok/a.png", TOKEN_URL]}}, "body.input.image_urls[1]"),
        ({"prompt": "x", "imageUrls": [TOKEN_URL.upper()]}, "body.imageUrls[0]"),
        ({"callBackUrl": "https://proxy.example/file/bot123:abc/x.jpg"}, "body.callBackUrl"),
        ({"input": {"image_url": "https://cdn.example/a.png"}}, None),
        ({"prompt": "a photo of a file on a desk", "n": 3, "flags": [True, None]}, None),
    ],
)
def test_find_telegram_file_url(value: object, path: str | None) -> None:
    assert find_telegram_file_url(value) == path


def test_refusal_names_the_field_but_not_the_url() -> None:
    with pytest.raises(ValueError) as info:
        refuse_telegram_file_urls({"input": {"image_urls": [TOKEN_URL]}})
    text = str(info.value) + repr(info.value)
    assert "body.input.image_urls[0]" in text
    assert "SECRET" not in text
    assert "api.telegram.org" not in text


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, errors.InputRejected),
        (401, errors.Unauthorized),
        (402, errors.InsufficientCredits),
        (404, errors.NotFound),
        (422, errors.InputRejected),
        (429, errors.RateLimited),
        (455, errors.Maintenance),
        (500, errors.ServerError),
        (502, errors.ServerError),
        (501, errors.GenerationFailed),
        (505, errors.FeatureDisabled),
        (418, errors.UnexpectedResponse),
    ],
)
def test_error_for_code(code: int, cls: type[errors.KieError]) -> None:
    error = errors.error_for_code(code, "Kie says no", http_status=200)
    assert type(error) is cls
    assert error.code == code
    assert error.kie_message == "Kie says no"
    assert str(error) == f"Kie code {code}: Kie says no"
    assert error.retryable == (code in (429, 455, 500, 502))


def test_submit_outcome_unknown_is_distinct_and_safe() -> None:
    error = errors.SubmitOutcomeUnknown("createTask: ReadTimeout", cause="timeout")
    assert isinstance(error, errors.KieError)
    assert not isinstance(error, errors.Timeout | errors.NetworkError)
    assert not error.retryable
    assert error.cause == "timeout"
    assert "SubmitOutcomeUnknown" in repr(error)
    assert "".join(traceback.format_exception(error)).count("createTask") == 1
