"""The fake Kie server's defaults from our catalogue (``registry/models.toml``): which market inputs
Kie would refuse (422), what a task costs in credits, and what kind of file it returns.

Market inputs are judged by :func:`kiebot.catalog.validate_wire_input`, the same rules the bot
checks before it quotes a price, so a request that slips past the bot's validation still gets
Kie's 422 in tests. Veo and Suno bodies are judged by the fake's own copy of Kie's documented
rules (:mod:`kiebot.testing.kie.rules`), so this module leaves them alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiebot.catalog import InputIssue, ModelSpec, load_registry
from kiebot.catalog.pricing import PricingError, wire_credits
from kiebot.catalog.validation import validate_wire_input
from kiebot.testing.kie.rules import SUNO_MODELS, VEO_MODELS, Profile


def _spec(family: str, model: str) -> ModelSpec | None:
    registry = load_registry()
    if family == "market":
        spec = registry.get(model)
        return spec if spec is not None and spec.family == "market" else None
    return registry.for_wire(family, model)


def describe_issue(issue: InputIssue) -> str:
    """A Kie-style line: ``image_size: not_allowed (allowed: 1:1, 9:16; got 7:1)``."""
    details = []
    if issue.limit is not None:
        details.append(f"limit {issue.limit}")
    if issue.actual is not None:
        details.append(f"got {issue.actual}")
    return f"{issue.field}: {issue.code}" + (f" ({'; '.join(details)})" if details else "")


def registry_validator(model: str, payload: Mapping[str, Any]) -> list[str]:
    """Problems with a market ``input`` for ``model``; an id the catalogue lacks is refused.

    Veo and Suno models (their flat bodies arrive here too) are checked elsewhere: ``[]``.
    """
    if model in VEO_MODELS or model in SUNO_MODELS:
        return []
    spec = _spec("market", model)
    if spec is None:
        return [f"model {model} is not supported"]
    return [describe_issue(issue) for issue in validate_wire_input(spec, payload)]


def registry_pricer(family: str, model: str, payload: Mapping[str, Any]) -> float | None:
    """Credits Kie would bill for this request: :func:`kiebot.catalog.pricing.wire_credits` of its spec."""
    spec = _spec(family, model)
    if spec is None:
        return None
    try:
        return float(wire_credits(spec, payload))
    except PricingError:
        return None


def registry_profile(family: str, model: str) -> Profile | None:
    """What a model returns: its catalogue category (image, video, audio) and results per run."""
    spec = _spec(family, model)
    return Profile(spec.category, spec.results_per_run) if spec is not None else None
