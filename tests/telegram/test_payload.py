"""Request bodies: JSON by default, multipart only for uploads, attach:// references (pure, no I/O)."""

from __future__ import annotations

import json

import pytest

from kiebot.telegram.payload import attach_media, build_body, clean_params, form_value, multipart_fields
from kiebot.telegram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    InputMediaPhoto,
    InputMediaVideo,
    LabeledPrice,
)

KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton.callback("Да", "yes")]])


def test_none_parameters_are_left_out() -> None:
    assert clean_params({"a": 1, "b": None, "c": False, "d": ""}) == {"a": 1, "c": False, "d": ""}


def test_json_body_embeds_structs_without_unset_fields() -> None:
    body = build_body(
        {
            "chat_id": 7,
            "text": "привет",
            "reply_markup": KEYBOARD,
            "prices": [LabeledPrice(label="x", amount=5)],
        },
        None,
    )
    assert not body.is_multipart
    assert body.json is not None
    assert json.loads(body.json) == {
        "chat_id": 7,
        "text": "привет",
        "reply_markup": {"inline_keyboard": [[{"text": "Да", "callback_data": "yes"}]]},
        "prices": [{"label": "x", "amount": 5}],
    }


def test_multipart_fields_are_strings_and_complex_ones_are_json_text() -> None:
    fields = multipart_fields(
        {
            "chat_id": -100123,
            "caption": 'a "b"',
            "has_spoiler": True,
            "reply_markup": KEYBOARD,
            "allowed_updates": ["message"],
            "duration": 3.5,
        }
    )
    assert fields == {
        "chat_id": "-100123",
        "caption": 'a "b"',
        "has_spoiler": "true",
        "reply_markup": '{"inline_keyboard":[[{"text":"Да","callback_data":"yes"}]]}',
        "allowed_updates": '["message"]',
        "duration": "3.5",
    }
    assert form_value("plain") == "plain"


def test_a_file_in_params_is_refused() -> None:
    upload = InputFile("a.png", b"x")
    with pytest.raises(TypeError, match="files="):
        multipart_fields({"photo": upload})
    with pytest.raises(TypeError, match="files="):
        build_body({"photo": upload}, None)
    with pytest.raises(TypeError, match="attach_media"):
        build_body({"media": [InputMediaPhoto(media="id"), InputMediaPhoto(media=upload)]}, None)
    with pytest.raises(TypeError, match="attach_media"):
        build_body({"media": [InputMediaVideo(media="id", thumbnail=upload)]}, {"x": upload})


def test_upload_switches_to_multipart() -> None:
    upload = InputFile("cat.png", b"\x89PNG...", "image/png")
    body = build_body({"chat_id": 7, "caption": "c"}, {"photo": upload})
    assert body.is_multipart
    assert body.json is None
    assert body.form == {"chat_id": "7", "caption": "c"}
    assert body.files == [("photo", ("cat.png", b"\x89PNG...", "image/png"))]


def test_media_group_uploads_become_attach_references() -> None:
    first = InputFile("a.png", b"A", "image/png")
    second = InputFile("b.mp4", b"B", "video/mp4")
    thumb = InputFile("t.jpg", b"T", "image/jpeg")
    media = [
        InputMediaPhoto(media=first, caption="one"),
        InputMediaPhoto(media="AgACAgIAAx-existing-file-id"),
        InputMediaVideo(media=second, thumbnail=thumb, supports_streaming=True),
    ]
    prepared, files = attach_media(media)
    assert files == {"file0": first, "file1": second, "file2": thumb}
    assert [m.media for m in prepared] == ["attach://file0", "AgACAgIAAx-existing-file-id", "attach://file1"]
    video = prepared[2]
    assert isinstance(video, InputMediaVideo)
    assert video.thumbnail == "attach://file2"
    assert media[0].media is first  # the caller's objects are not modified
    body = build_body({"chat_id": 1, "media": prepared}, files)
    assert body.form is not None
    assert json.loads(body.form["media"]) == [
        {"type": "photo", "media": "attach://file0", "caption": "one"},
        {"type": "photo", "media": "AgACAgIAAx-existing-file-id"},
        {
            "type": "video",
            "media": "attach://file1",
            "thumbnail": "attach://file2",
            "supports_streaming": True,
        },
    ]
    assert body.files is not None
    assert [name for name, _ in body.files] == ["file0", "file1", "file2"]


def test_media_group_without_uploads_stays_json() -> None:
    prepared, files = attach_media(
        [InputMediaDocument(media="id1"), InputMediaDocument(media="https://x/y.pdf")]
    )
    assert files == {}
    body = build_body({"chat_id": 1, "media": prepared}, files or None)
    assert not body.is_multipart
