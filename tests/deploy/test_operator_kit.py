"""The operator's kit (deploy/grafana/kiebot.json, deploy/prometheus/alerts.yml) against what
GET /metrics really exports: a renamed or removed metric would leave a panel empty or an alert
silent without anyone noticing, so every ``kiebot_*`` name they use must be on the page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from kiebot.testing.harness import open_world

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "kiebot.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
_NAME = re.compile(r"\bkiebot_[a-z0-9_]+\b")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"), "gauge": ("",)}


def _exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def exported_names(page: str) -> set[str]:
    """Every series name the page can carry, families without samples yet included."""
    names: set[str] = set()
    for family in text_string_to_metric_families(page):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def dashboard_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return {name for expr in _exprs(dashboard) for name in _NAME.findall(expr)}


def alert_names() -> set[str]:
    return set(_NAME.findall(ALERTS.read_text(encoding="utf-8")))


async def _metrics_page(database_url: str) -> str:
    async with open_world(database_url) as world, httpx.AsyncClient() as http:  # polling mode: /metrics is open
        answer = await http.get(world.app.url + "/metrics")
    assert answer.status_code == 200
    return answer.text


async def test_every_metric_the_kit_uses_is_exported(database_url: str) -> None:
    with trio.fail_after(60):
        page = await _metrics_page(database_url)
    exported = exported_names(page)
    used = dashboard_names() | alert_names()
    assert len(used) >= 20
    assert sorted(used - exported) == []


def test_a_name_not_exported_is_caught() -> None:
    page = "# HELP kiebot_x_total x\n# TYPE kiebot_x_total counter\n# HELP kiebot_h h\n# TYPE kiebot_h histogram\n"
    assert exported_names(page) == {"kiebot_x_total", "kiebot_x_created", "kiebot_h_bucket", "kiebot_h_sum", "kiebot_h_count", "kiebot_h_created"}
    assert "kiebot_x" not in exported_names(page)  # a counter is queried by its _total series


def test_the_dashboard_shows_what_an_operator_watches() -> None:
    used = dashboard_names()
    wanted = {
        "updates": "kiebot_updates_received_total",
        "inbox lag": "kiebot_inbox_lag_seconds",
        "handler latency": "kiebot_handler_seconds_bucket",
        "jobs by state": "kiebot_jobs",
        "jobs by state and kind": "kiebot_jobs_by_kind",
        "generation time": "kiebot_generation_seconds_bucket",
        "Kie calls": "kiebot_kie_calls_total",
        "Kie credits": "kiebot_kie_credits",
        "Telegram retry-after waits": "kiebot_telegram_retry_after_seconds_total",
        "money held": "kiebot_held_kopecks",
        "payments": "kiebot_stars_payments_total",
        "top-ups": "kiebot_topup_kopecks_total",
    }
    assert {topic: name for topic, name in wanted.items() if name not in used} == {}
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_alerts_cover_what_pages_an_operator() -> None:
    text = ALERTS.read_text(encoding="utf-8")
    alerts = dict(re.findall(r"- alert: (\w+)\n\s+(?:#[^\n]*\n\s+)*expr: ([^\n]+)", text))
    assert sorted(alerts) == sorted(
        ["KiebotKieCreditsLow", "KiebotInboxLag", "KiebotJobFailureRate", "KiebotWebhook5xx", "KiebotNoLeader", "KiebotSupervisorRestarts"]
    )
    assert "kiebot_kie_credits" in alerts["KiebotKieCreditsLow"]
    assert "kiebot_inbox_lag_seconds" in alerts["KiebotInboxLag"]
    assert "kiebot_is_leader" in alerts["KiebotNoLeader"]
    assert "kiebot_supervisor_restarts_total" in alerts["KiebotSupervisorRestarts"]
    assert "\t" not in text  # YAML forbids tabs for indentation
