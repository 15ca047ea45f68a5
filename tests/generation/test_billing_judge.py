"""The drift verdict (issue 15 item 2), pure: over 1 % above the quote is drift; drift whose
billed cost at today's rate reaches today's price of the variant pauses it (any drift, for a
free variant)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from kiebot.catalog import load_registry
from kiebot.chat.format import credits_text
from kiebot.generation.billing import judge, variant_of
from kiebot.store.jobs import Job

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def job(credits: float, *, model_id: str = "google/imagen4-ultra", sku_key: str = "default", params: dict | None = None) -> Job:
    return Job(
        id=1, user_id=1, chat_id=1, model_id=model_id, kind="text_to_image", params=params or {}, quote_kopecks=0,
        credits=credits, fx_rate=78.0, markup=2.0, free=False, dry_run=False, request_id="", idempotency_key="k",
        callback_token="t", kie_task_id=None, state="delivered", attempts=0, lease_owner=None, lease_expires_at=None,
        deadline_at=T0, progress_message_id=None, result=None, error_code=None, error_message=None, created_at=T0,
        updated_at=T0, finished_at=T0, delivered_at=T0, sku_key=sku_key,
    )


@pytest.mark.parametrize(
    ("billed", "drift", "pause"),
    [
        (12.0, False, False),
        (12.12, False, False),  # exactly 1 % over: not "over 1 %"
        (12.13, True, False),
        (23.99, True, False),  # 9.3561 ₽ < 9.36 ₽, the price at ×2
        (24.0, True, True),  # 12 credits × 0.005 × 78 × 2 = 9.36 ₽: the cost reaches the price
        (120.0, True, True),
        (5.0, False, False),  # billed less than quoted is never drift
    ],
)
def test_paid_variant(billed: float, drift: bool, pause: bool) -> None:
    verdict = judge(job(12.0), billed, rub_per_usd=Decimal("78"), markup=2.0, free_variant=False)
    assert (verdict.drift, verdict.pause) == (drift, pause)
    assert verdict.price_kopecks == 936


def test_todays_rate_decides_the_pause() -> None:
    """The price is ceil(credits × rate × markup), the cost exact: a rate that turns 23.99 credits
    into a cost at or above the price pauses, in either direction of rounding."""
    quoted = job(12.0)
    assert not judge(quoted, 23.9, rub_per_usd=Decimal("100"), markup=2.0, free_variant=False).pause
    assert judge(quoted, 24.0, rub_per_usd=Decimal("100"), markup=2.0, free_variant=False).pause
    assert judge(quoted, 13.0, rub_per_usd=Decimal("78"), markup=1.05, free_variant=False).pause


def test_free_variant_any_drift_pauses_but_the_quoted_figure_does_not() -> None:
    assert not judge(job(0.8), 0.8, rub_per_usd=Decimal("78"), markup=2.0, free_variant=True).drift
    verdict = judge(job(0.8), 0.82, rub_per_usd=Decimal("78"), markup=2.0, free_variant=True)
    assert (verdict.drift, verdict.pause, verdict.price_kopecks) == (True, True, 0)
    # A 0-credit variant: any billed cost is drift and pauses; billed 0 is fine.
    assert judge(job(0.0), 0.5, rub_per_usd=Decimal("78"), markup=2.0, free_variant=True).pause
    assert not judge(job(0.0), 0.0, rub_per_usd=Decimal("78"), markup=2.0, free_variant=True).drift


def test_variant_of_old_jobs_is_worked_out_from_their_params() -> None:
    registry = load_registry()
    pro = registry.require("nano-banana-pro")
    assert variant_of(pro, job(24, model_id=pro.id, sku_key="resolution=4K")) == "resolution=4K"
    old = job(24, model_id=pro.id, sku_key="", params={"params": {"resolution": "4K"}})
    assert variant_of(pro, old) == "resolution=4K"
    assert variant_of(pro, job(18, model_id=pro.id, sku_key="", params={"weird": 1})) == "resolution=1K"
    assert variant_of(None, job(1, sku_key="")) == "default"


@pytest.mark.parametrize(
    ("value", "text"),
    [(120.0, "120"), (0.8, "0.8"), (3.0, "3"), (1_234_567.0, "1234567"), (12.125, "12.125"), (0.0, "0"), (0.00001, "0")],
)
def test_credits_are_written_as_kie_writes_them(value: float, text: str) -> None:
    assert credits_text(value) == text
    assert credits_text(value, "ru") == text.replace(".", ",")  # the decimal comma for a Russian reader


def test_only_the_free_variant_of_a_free_tier_model_is_given_away() -> None:
    """Issue 13 item 8: a free-tier model is free at its cheapest variant only; a dearer variant
    is paid and judged against its price."""
    from kiebot.generation.billing import given_away

    registry = load_registry()
    pro = registry.require("nano-banana-pro")  # 18 credits at 1K/2K, 24 at 4K

    class Deps:
        free_tier = ("nano-banana-pro",)

    assert given_away(Deps(), pro, job(18, model_id=pro.id, sku_key="resolution=1K"))  # type: ignore[arg-type]
    assert not given_away(Deps(), pro, job(24, model_id=pro.id, sku_key="resolution=4K"))  # type: ignore[arg-type]
    Deps.free_tier = ()
    assert not given_away(Deps(), pro, job(18, model_id=pro.id))  # type: ignore[arg-type]
    assert given_away(Deps(), pro, job(0, model_id=pro.id))  # type: ignore[arg-type]
