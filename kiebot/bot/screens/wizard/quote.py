"""Prices inside the wizard: the exact quote of a draft, and the price of each button value.

The user sees a price before paying, and it is the price they pay: the summary's Confirm button
carries the quoted kopecks, and Confirm re-quotes and refuses to charge a different amount (an FX
refresh between the two would otherwise change the bill silently). Metered models are quoted from
what was measured (:func:`kiebot.catalog.pricing.billing_quantity`: text length, the audio duration
Telegram reported); a quantity that cannot be known in advance is quoted at its maximum.

Pure: the FX rate and markup are passed in.
"""

from __future__ import annotations

from kiebot.bot.screens.wizard.state import Draft
from kiebot.catalog import InputIssue, ModelSpec
from kiebot.catalog.pricing import Number, PricingError, Quote, billing_quantity, kopecks_for, quote
from kiebot.catalog.types import ParamSpec, Scalar
from kiebot.catalog.validation import InvalidRequest, combination_issues, resolve_params


def measured_quantity(spec: ModelSpec, draft: Draft) -> int | None:
    media = {wire: [ref.item() for ref in refs] for wire, refs in draft.media.items()}
    return billing_quantity(spec, prompt=draft.prompt, media=media)


def draft_quote(spec: ModelSpec, draft: Draft, *, fx: Number, markup: Number) -> Quote:
    """The price of the draft as it stands.

    Raises:
        PricingError: an invalid combination or a quantity past the model's maximum.
    """
    return quote(spec, draft.params, fx=fx, markup=markup, quantity=measured_quantity(spec, draft))


def unit_price(spec: ModelSpec, *, fx: Number, markup: Number) -> int:
    """Kopecks per billed unit of a metered model (its cheapest SKU)."""
    return kopecks_for(min(s.credits for s in spec.pricing.skus), fx=fx, markup=markup)


def choice_issue(spec: ModelSpec, draft: Draft, param: ParamSpec, value: Scalar) -> InputIssue | None:
    """Why ``value`` cannot be chosen with the other current choices (Hailuo: 10 s at 1080P)."""
    candidate = {**draft.params, param.wire: value}
    try:
        values = resolve_params(spec, candidate, complete=False)
    except InvalidRequest as err:
        return err.issues[0]
    issues = combination_issues(spec, values)
    return issues[0] if issues else None


def value_prices(spec: ModelSpec, draft: Draft, param: ParamSpec, *, fx: Number, markup: Number) -> dict[str, int | None]:
    """The price with each value of ``param``; None marks a value not offered with the other
    choices. Prices appear only when they differ between values (a value missing from the result
    needs no price on its button), so a parameter that never changes the price gives ``{}``.
    """
    if param.wire not in spec.pricing.by or param.type != "enum":
        return {}
    quantity = measured_quantity(spec, draft)
    prices: dict[str, int | None] = {}
    for value in param.values:
        try:
            prices[value] = quote(spec, {**draft.params, param.wire: value}, fx=fx, markup=markup, quantity=quantity).kopecks
        except PricingError:
            prices[value] = None
    if len({p for p in prices.values() if p is not None}) <= 1:
        return {k: v for k, v in prices.items() if v is None}
    return prices
