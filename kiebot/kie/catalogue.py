"""The I/O of Kie's free catalogue API: the model list, price texts, per-model schemas and
success rates (reference: kie-live-truth §2–3). Never billed; Bearer key as for every Kie call.

Limits it protects:

* the four endpoints share **one** budget of 1 request/s per account: every call waits its turn
  on an injected :class:`~kiebot.kie.pacing.Pacer` (≥ 1.1 s apart, shared by the sync and the
  health read of a process);
* over the budget Kie answers ``code: 429`` **inside an HTTP 200**: the pacer is held back for the
  back-off so no other caller spends the budget, and the call is retried a few times;
* ``<model>`` goes into the path unencoded, slash included (``/api/v1/models/wan/v2-2-t2v/schema``);
  ids outside ``[A-Za-z0-9._/-]`` (or with ``..``) are refused before any request.

Answers are read by :mod:`kiebot.kie.catalogue_wire`, which tolerates missing fields. No error
chains an httpx exception (its request holds the key) and no message carries the key.
"""

from __future__ import annotations

import logging
import random
import re
from typing import Any, Final

import httpx
import msgspec
import trio

from kiebot.kie.catalogue_wire import (
    KieModel,
    SuccessPoint,
    parse_models,
    parse_price,
    parse_schema,
    parse_success_rate,
)
from kiebot.kie.client import DEFAULT_API_URL, RetryPolicy
from kiebot.kie.errors import (
    KieError,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    UnexpectedResponse,
    error_for_code,
)
from kiebot.kie.pacing import Pacer

log = logging.getLogger("kiebot.kie.catalogue")

MODELS_PATH: Final = "/api/v1/models"
_SAFE_MODEL = re.compile(r"^[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
_MAX_MESSAGE: Final = 300


def model_path(model: str, endpoint: str) -> str:
    """``/api/v1/models/<model>/<endpoint>`` with the id unencoded (slashes kept), or ValueError."""
    if not _SAFE_MODEL.match(model) or ".." in model.split("/"):
        raise ValueError(f"not a Kie model id: {model[:80]!r}")
    return f"{MODELS_PATH}/{model}/{endpoint}"


class CatalogueClient:
    """Kie's discovery endpoints for one account.

    Args:
        http: the transport (its base URL and default headers are not used).
        api_key: the Bearer key, sent only to ``api_url``.
        api_url: ``KIE_API_URL``.
        pacer: the shared 1 request/s budget; share one per key within a process.
        retry: attempts and back-off after a 429, 455, 5xx or network error.
        timeout: seconds per network phase.
        rng: jitter source.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        self._http = http
        self._key = api_key
        self._api_url = api_url.rstrip("/")
        self.pacer = pacer or Pacer()
        self._retry = retry or RetryPolicy(attempts=4, base_delay_s=2.0, max_delay_s=30.0)
        self._timeout = httpx.Timeout(timeout)
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"CatalogueClient(api_url={self._api_url!r})"

    async def models(self) -> list[KieModel]:
        """The whole catalogue, unfiltered (one request; filter locally)."""
        return parse_models(await self._get(MODELS_PATH, "models"))

    async def price(self, model: str) -> str | None:
        """The model's ``pricingDesc`` (the same prose as the catalogue's)."""
        return parse_price(await self._get(model_path(model, "price"), "price"))

    async def schema(self, model: str) -> dict[str, Any] | None:
        """The model's OpenAPI document, or None when Kie has not synced it yet."""
        return parse_schema(await self._get(model_path(model, "schema"), "schema"))

    async def success_rate(self, model: str) -> list[SuccessPoint]:
        """The last 24 h in 10-minute buckets (an empty list: no data)."""
        return parse_success_rate(await self._get(model_path(model, "success-rate"), "success-rate"))

    # ---- plumbing ---------------------------------------------------------------------------

    async def _get(self, path: str, what: str) -> object:
        policy = self._retry
        for attempt in range(policy.attempts):
            await self.pacer.acquire()
            try:
                return await self._once(path, what)
            except KieError as exc:
                if not exc.retryable or attempt + 1 >= policy.attempts:
                    raise
                delay = policy.delay(attempt, self._rng)
                if isinstance(exc, RateLimited):
                    self.pacer.hold(delay)  # the account's budget is spent: nobody calls
                log.warning("kie catalogue %s: %s, retrying in %.1f s", what, type(exc).__name__, delay)
                await trio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, path: str, what: str) -> object:
        request = self._http.build_request(
            "GET",
            self._api_url + path,
            headers={"Authorization": f"Bearer {self._key}", "Accept": "application/json"},
            timeout=self._timeout,
        )
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            raise Timeout(f"{what}: no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise NetworkError(f"{what}: {type(exc).__name__}") from None
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = None
        status = response.status_code
        if isinstance(body, dict) and "code" in body:
            code = body.get("code")
            if isinstance(code, int) and not isinstance(code, bool) and code != 200:
                message = self._scrub(str(body.get("msg") or body.get("message") or ""))
                raise error_for_code(code, f"{what}: {message}" if message else what, http_status=status)
            if status < 300:
                return body.get("data")
        elif status < 300 and body is not None:
            return body  # no envelope: the object itself is the answer
        if status in (404, 410):
            raise NotFound(f"{what}: HTTP {status}", code=status, http_status=status)
        if status == 429:
            raise RateLimited(f"{what}: HTTP 429", code=429, http_status=status)
        if status >= 500:
            raise ServerError(f"{what}: HTTP {status}", http_status=status)
        if status >= 300:
            raise error_for_code(status, f"{what}: HTTP {status}", http_status=status)
        raise UnexpectedResponse(f"{what}: the answer is not JSON", http_status=status)

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***")[:_MAX_MESSAGE]
