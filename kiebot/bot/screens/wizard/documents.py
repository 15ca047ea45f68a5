"""Files sent as documents meet the same limits as photos and audio: measured from their bytes.

A Telegram document says nothing about pixels or seconds, and its MIME type is a guess from the
sender's file name (https://core.telegram.org/bots/api#document). Before such a file is accepted
it is downloaded (at most the input's ``max_mb``) and measured by
:func:`kiebot.generation.media_probe.measure`; the measured type, pixel size and duration replace
what the message claimed, so the usual checks (``max_side_px``, ``max_seconds``, the accepted
types) and the quote of a metered model see the truth. A file that cannot be measured is refused
with a message in the user's language — never passed on to Kie on trust.

Cheap refusals come first, without a download: a file larger than the input allows, or one that
declares a concrete type the input does not take (a PDF for a photo).
"""

from __future__ import annotations

import msgspec

from kiebot.bot.context import Ctx
from kiebot.bot.screens.wizard.media import file_issues
from kiebot.catalog import InputIssue, ModelSpec, render_issue
from kiebot.catalog.texts import field_label
from kiebot.catalog.types import MediaSpec
from kiebot.generation.media_file import MediaFile
from kiebot.generation.media_probe import measure
from kiebot.generation.request import MediaRef
from kiebot.i18n import t
from kiebot.telegram.errors import FileTooLarge, TelegramError

#: A declared type that says nothing: such a document is measured rather than refused by name.
_UNKNOWN_TYPE = "application/octet-stream"


async def measured_document(ctx: Ctx, spec: ModelSpec, media: MediaSpec, ref: MediaRef) -> MediaRef | str:
    """The document ``ref`` with its type, pixels and duration measured from its bytes, or the
    sentence (plain text, to be HTML-escaped by the caller) that says why it is refused."""
    claimed = file_issues(spec, media, ref)
    for issue in claimed:
        if issue.code == "too_big" or (issue.code == "bad_mime" and ref.mime_type != _UNKNOWN_TYPE):
            return render_issue(issue, ctx.lang)
    with MediaFile(ctx.deps.media) as file:
        refused = await _download(ctx, media, ref, file)
        if refused is not None:
            return refused
        facts = measure(file.reader(), media.type)
        size = file.size
    if facts is None:
        return t(ctx.lang, f"media_check.unreadable.{media.type}", field=_field(ctx, media))
    return msgspec.structs.replace(
        ref,
        mime_type=facts.mime_type,
        size_bytes=size,
        width=facts.width,
        height=facts.height,
        duration_s=facts.duration_s,
    )


async def _download(ctx: Ctx, media: MediaSpec, ref: MediaRef, file: MediaFile) -> str | None:
    """The document into ``file`` (capped at the input's size limit; in memory within
    ``MEDIA_MEMORY_MB``, else on disk), or the refusal."""
    try:
        info = await ctx.tg.get_file(ref.file_id)
        if not info.file_path:  # Telegram gives no path for files over 20 MB
            raise FileTooLarge("getFile", media.max_bytes)
        await ctx.tg.download_file_into(info.file_path, file, max_bytes=media.max_bytes)
        await file.finish()
        return None
    except FileTooLarge:
        actual = f"> {media.max_mb}"
        issue = InputIssue(field=media.wire, code="too_big", limit=media.max_mb, actual=actual, label=media.label)
        return render_issue(issue, ctx.lang)
    except (TelegramError, ValueError):
        return t(ctx.lang, "media_check.download_failed", field=_field(ctx, media))


def _field(ctx: Ctx, media: MediaSpec) -> str:
    return field_label(media.label, media.wire, ctx.lang)
