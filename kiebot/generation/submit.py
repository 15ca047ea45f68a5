"""Submitting a queued job to Kie: user files re-uploaded, ``createTask`` with a callback URL.

Order matters for money and for Kie's bill:

1. ``queued → submitting`` is committed *before* the create call, so if the process dies while
   the request is in flight the job is not silently re-sent by another worker (a blind re-send
   doubles the spend — reference/peers-and-style.md B.10);
2. a create whose outcome is unknown (timeout after the request left) stays ``submitting``: Kie
   calls our per-job callback URL if it did start the task, and the job's deadline releases the
   hold if nothing ever comes;
3. everything Kie refuses outright (422 input, 402 credits, 455 maintenance, 505 disabled...)
   fails the job, which releases the hold in the same transaction, and tells the user why;
4. 429 and answered 5xx put the job back in the queue (a few times) — nothing was started.
"""

from __future__ import annotations

import logging

import trio

from kiebot.catalog import InvalidRequest, ModelSpec, build_wire_request, render_issue
from kiebot.catalog.texts import choices_in_words
from kiebot.chat.format import render, rub
from kiebot.generation import outcomes
from kiebot.generation.deps import GenDeps
from kiebot.generation.media_file import MediaFile
from kiebot.generation.notify import Notifier, model_title, progress_text, user_language
from kiebot.generation.request import JobRequest
from kiebot.i18n import t
from kiebot.kie import errors as kie_errors
from kiebot.kie.guard import refuse_telegram_file_urls
from kiebot.kie.upload_names import JobUploads
from kiebot.store import jobs
from kiebot.store.jobs import IllegalTransition, Job, LeaseLost
from kiebot.telegram.errors import FileTooLarge, TelegramError

log = logging.getLogger(__name__)

MAX_SUBMIT_ATTEMPTS = 4


async def _transfer_media(deps: GenDeps, job: Job, request: JobRequest) -> dict[str, list[str]]:
    """Download each Telegram file and upload the bytes to Kie; returns Kie URLs per wire input.

    Each file is streamed through a :class:`MediaFile` (memory within ``MEDIA_MEMORY_MB``, else a
    temporary file), one at a time, and deleted once Kie has it.

    Never passes a Telegram file URL on: it contains the bot token. Each file goes under names
    only this job can produce (:mod:`kiebot.kie.upload_names`): Kie overwrites same-name uploads
    and reads a task's inputs late, so a shared name would hand one user's file to another's job.
    The user's own file name is never sent; a retry of the job reuses its names.
    """
    assert deps.kie is not None
    names = JobUploads(job.id, job.callback_token)
    urls: dict[str, list[str]] = {}
    for wire, refs in request.media.items():
        urls[wire] = []
        for index, ref in enumerate(refs):
            info = await deps.tg.get_file(ref.file_id)
            if not info.file_path:
                raise FileTooLarge("getFile", 20_000_000)
            with MediaFile(deps.media) as file:
                await deps.tg.download_file_into(info.file_path, file)
                await file.finish()
                url = await deps.kie.upload_stream(
                    file.reader(),
                    file_name=names.file_name(wire, index, ref.mime_type),
                    mime_type=ref.mime_type,
                    upload_path=names.upload_path,
                )
            urls[wire].append(url)
    return urls


async def submit_job(deps: GenDeps, notifier: Notifier, job: Job) -> None:
    """Take one claimed ``queued`` job as far as ``submitted`` (or a final state), then let go of
    its lease so the delivery stage can claim it the moment its result arrives."""
    try:
        await _submit(deps, notifier, job)
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            async with deps.db.connection() as conn:
                await jobs.release_lease(conn, job.id, deps.worker)


async def _submit(deps: GenDeps, notifier: Notifier, job: Job) -> None:
    spec = deps.registry.get(job.model_id)
    async with deps.db.connection() as conn:
        try:
            moved = await jobs.transition(conn, job.id, "submitting", owner=deps.worker)
        except (IllegalTransition, LeaseLost):
            return  # cancelled meanwhile, or another worker took it
    if not moved:
        return
    job = await outcomes.reload(deps, job.id)
    await notifier.edit_progress(job, _progress(deps, job, spec))
    if spec is None:
        await outcomes.fail(deps, notifier, job, "model_unavailable", "unknown model")
        return
    if job.dry_run:
        await _dry_run(deps, job, spec)
        return
    if deps.kie is None:
        await outcomes.fail(deps, notifier, job, "service_error", "Kie is not configured")
        return
    request = JobRequest.from_json(job.params)
    try:
        media_urls = await _transfer_media(deps, job, request)
    except FileTooLarge:
        await outcomes.fail(deps, notifier, job, "media_failed", "file too large")
        return
    except TelegramError as exc:
        await outcomes.fail(deps, notifier, job, "media_failed", type(exc).__name__)
        return
    except kie_errors.KieError as exc:
        await _kie_refused(deps, notifier, job, exc, stage="upload")
        return
    try:
        wire = build_wire_request(spec, request.params, prompt=request.prompt, media_urls=media_urls)
    except InvalidRequest as exc:
        lang = await user_language(deps.db, job.user_id)
        detail = "; ".join(render_issue(i, lang) for i in exc.issues)
        await outcomes.fail(deps, notifier, job, "input_rejected", detail)
        return
    try:
        refuse_telegram_file_urls(wire.body)
    except ValueError:
        # A prompt or link holding https://api.telegram.org/file/bot<token>/... would hand the bot
        # token to Kie. The client refuses it too, but as a bare ValueError that left the job
        # retrying until its deadline; refuse it here as bad input instead (money released).
        lang = await user_language(deps.db, job.user_id)
        await outcomes.fail(deps, notifier, job, "input_rejected", t(lang, "security.telegram_file_link"))
        return
    try:
        task_id = await deps.kie.create_task(spec.family, wire.body, callback_url=deps.callback_url(job.callback_token))
    except kie_errors.SubmitOutcomeUnknown:
        log.warning("create outcome unknown; waiting for a callback or the deadline", extra={"job_id": job.id})
        return
    except kie_errors.KieError as exc:
        await _kie_refused(deps, notifier, job, exc, stage="create")
        return
    async with deps.db.connection() as conn:
        try:
            await jobs.transition(conn, job.id, "submitted", kie_task_id=task_id)
        except IllegalTransition:
            # An early callback already moved it on (Kie can call back before createTask returns).
            log.info("job moved on before createTask returned", extra={"job_id": job.id})
        await outcomes.schedule_first_poll(conn, deps, job.id, spec)


async def _kie_refused(deps: GenDeps, notifier: Notifier, job: Job, exc: kie_errors.KieError, *, stage: str) -> None:
    """Map a refusal by Kie to the job's fate and the user's message."""
    spec = deps.registry.get(job.model_id)
    detail = str(exc)[:200]
    if isinstance(exc, kie_errors.RateLimited | kie_errors.ServerError | kie_errors.NetworkError | kie_errors.Timeout):
        if job.attempts < MAX_SUBMIT_ATTEMPTS:
            async with deps.db.connection() as conn:
                try:
                    await jobs.transition(conn, job.id, "queued", note=f"{stage}: {type(exc).__name__}")
                except IllegalTransition:
                    return
            return
        await _provider_failure(deps, notifier, job, spec, exc)
        await outcomes.fail(deps, notifier, job, "service_error", detail)
        return
    if isinstance(exc, kie_errors.InputRejected):
        await outcomes.fail(deps, notifier, job, "input_rejected", detail)
        return
    if isinstance(exc, kie_errors.InsufficientCredits):
        await notifier.admins("generation.admin.no_credits", topic="kie:402")
        await outcomes.fail(deps, notifier, job, "no_credits", "")
        return
    if isinstance(exc, kie_errors.Unauthorized):
        await notifier.admins("generation.admin.unauthorized", topic="kie:401")
        await outcomes.fail(deps, notifier, job, "service_error", "")
        return
    if isinstance(exc, kie_errors.Maintenance):
        await _provider_failure(deps, notifier, job, spec, exc)
        await outcomes.fail(deps, notifier, job, "maintenance", "")
        return
    if isinstance(exc, kie_errors.FeatureDisabled):
        await outcomes.fail(deps, notifier, job, "model_unavailable", "")
        return
    await _provider_failure(deps, notifier, job, spec, exc)
    await outcomes.fail(deps, notifier, job, "provider_failed", detail)


async def _provider_failure(
    deps: GenDeps, notifier: Notifier, job: Job, spec: ModelSpec | None, exc: kie_errors.KieError
) -> None:
    await outcomes.count_provider_failure(deps, notifier, job.model_id)
    await notifier.admins(
        "generation.admin.provider_failure",
        topic=f"provider:{job.model_id}:{type(exc).__name__}",
        model=job.model_id,
        code=type(exc).__name__,
        detail=str(exc)[:200],
        job=job.id,
    )


def _progress(deps: GenDeps, job: Job, spec: ModelSpec | None) -> str:
    return progress_text(job, spec, str(job.params.get("lang", "ru")), deps.now())


async def _dry_run(deps: GenDeps, job: Job, spec: ModelSpec) -> None:
    """DRY_RUN=1: no Kie call, no money; the "result" is a description of what would happen."""
    lang = str(job.params.get("lang", "ru"))
    request = JobRequest.from_json(job.params)
    # The choices as the wizard showed them ("Формат кадра: 1:1 квадрат"), not wire names.
    summary = ", ".join(t(lang, "jobs.param", name=n, value=v) for n, v in choices_in_words(spec, request.params, lang)) or "—"
    text = render(lang, "generation.dry_run", model=model_title(deps.registry, spec.id, lang), summary=summary, price=rub(job.quote_kopecks, lang))
    async with deps.db.connection() as conn:
        await jobs.transition(conn, job.id, "submitted", kie_task_id=f"dry-run-{job.id}")
        await jobs.transition(conn, job.id, "succeeded", result={"dry_run": True, "text": text, "urls": []})
    deps.deliver_wakeup.signal()

