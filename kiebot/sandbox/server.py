"""The sandbox page server: the chat page, the fake Telegram's ``/_sim`` API, and two controls.

Everything the page needs comes from this one origin, so it works offline and without CORS:

=============================  ============================================================
``GET  /``                     the chat page (``static/index.html``)
``GET  /static/<file>``        ``app.css``, ``app.js``
``GET  /sandbox/config``       the bot, the two people, the language, page texts (ru, en), and
                               where the fake Bot API listens (for your own experiments)
``POST /sandbox/lang``         ``{"lang": "ru"|"en"}``: the people's Telegram language
``POST /sandbox/reset``        empty database, empty chats, fresh app; answers when ready
``/_sim/...``                  the fake Telegram's control API and its ``/_sim/events``
                               server-sent events (``kiebot.testing.telegram.sim``),
                               mounted on the same state the fake's Bot API serves
=============================  ============================================================

``/_sim/reset`` is refused here: it would forget the people while the bot's database still
knows them; the page's reset goes through ``/sandbox/reset``, which resets both together.

The page is plain HTML, CSS and JS with a Content-Security-Policy that allows nothing but this
origin, so a stray CDN link would fail loudly in the browser test instead of silently needing
the network.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
import trio
from quart import Response, request
from quart_trio import QuartTrio

from kiebot.i18n import LANGS, catalog
from kiebot.runtime.serving import hypercorn_config, start_serving
from kiebot.sandbox.options import Lang
from kiebot.testing.telegram.model.state import State
from kiebot.testing.telegram.sim import register as register_sim

log = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
STATIC_FILES: Final[Mapping[str, str]] = {
    "index.html": "text/html; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
}
#: Uploads from the composer (a photo, a song, a PDF receipt). Telegram lets a bot download at most
#: 20 MB (https://core.telegram.org/bots/api#getfile); a little more lets the bot's refusal be seen.
MAX_UPLOAD_BYTES: Final = 25 * 1024 * 1024
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_encode = msgspec.json.encode


class _LangBody(msgspec.Struct, forbid_unknown_fields=True):
    lang: Lang


_decode_lang = msgspec.json.Decoder(_LangBody)


class SandboxControl(Protocol):
    """What the page server needs from the running sandbox (``kiebot.sandbox.runner.Sandbox``)."""

    @property
    def state(self) -> State: ...

    def describe(self) -> dict[str, Any]: ...

    def set_language(self, lang: Lang) -> None: ...

    def start_soon_reset(self) -> trio.Event: ...


def page_texts() -> dict[str, dict[str, str]]:
    """The page's own texts (``locales/<lang>/sandbox.toml``), by language, keys without the area."""
    prefix = "sandbox."
    return {
        lang: {k[len(prefix) :]: v for k, v in catalog(lang).items() if k.startswith(prefix)}
        for lang in LANGS
    }


def _json(body: Any, status: int = 200) -> Response:
    return Response(_encode(body), status=status, content_type="application/json")


def create_page_app(sandbox: SandboxControl) -> QuartTrio:
    app = QuartTrio("kiebot.sandbox", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    texts = page_texts()

    @app.before_request
    async def refuse_sim_reset() -> Response | None:
        if request.path.rstrip("/") == "/_sim/reset":
            return _json({"ok": False, "error": "the sandbox resets with POST /sandbox/reset"}, 404)
        return None

    register_sim(app, sandbox.state)

    @app.after_request
    async def secure(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def static(name: str) -> Response:
        data = (STATIC_DIR / name).read_bytes()
        return Response(data, content_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    @app.route("/")
    async def index() -> Response:
        return static("index.html")

    @app.route("/static/<name>")
    async def static_file(name: str) -> Response:
        if name not in STATIC_FILES:
            return _json({"ok": False, "error": "not found"}, 404)
        return static(name)

    @app.route("/sandbox/config")
    async def config() -> Response:
        return _json(sandbox.describe() | {"texts": texts})

    @app.route("/sandbox/lang", methods=["POST"])
    async def set_lang() -> Response:
        try:
            body = _decode_lang.decode(await request.get_data())
        except msgspec.ValidationError as exc:
            return _json({"ok": False, "error": str(exc)}, 400)
        except msgspec.DecodeError:
            return _json({"ok": False, "error": "body is not JSON"}, 400)
        sandbox.set_language(body.lang)
        return _json({"ok": True, "lang": body.lang})

    @app.route("/sandbox/reset", methods=["POST"])
    async def reset() -> Response:
        # The reset runs in the sandbox's own nursery: a page closed half-way through must not
        # cancel it between "app stopped" and "app started".
        done = sandbox.start_soon_reset()
        await done.wait()
        return _json({"ok": True} | sandbox.describe())

    return app


def display_url(bound: str) -> str:
    """Hypercorn's bound address as a URL a browser on this machine can open."""
    return bound.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://[::1]:")


async def serve_page(
    app: QuartTrio,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the page until cancelled; reports its URL (``http://127.0.0.1:PORT``)."""
    config = hypercorn_config(host, port, log_name="kiebot.sandbox.http", graceful_s=1.0)
    async with trio.open_nursery() as nursery:
        task_status.started(display_url(await start_serving(nursery, app, config)))
