"""``python -m kiebot catalog sync [--json]`` from the outside, against the fake Kie on 127.0.0.1:
exit 0 on a consistent catalogue, 1 naming the drifted models, 2 when Kie cannot be read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from kiebot.catalog import load_registry
from kiebot.store import catalog_sync
from kiebot.store.db import Database
from kiebot.testing.kie.catalogue import pricing_desc
from kiebot.testing.kie.server import FakeKie

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
KEY = "kie-sync-cli-key-91c2"


@pytest.fixture
async def fake(nursery: trio.Nursery) -> FakeKie:
    server = FakeKie(api_key=KEY, speed=0.01)
    server.catalogue.budget_interval_s = 0.02
    await nursery.start(server.serve)
    return server


async def sync(
    fake: FakeKie, *args: str, key: str = KEY, url: str | None = None, database_url: str = ""
) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if k not in ("KIEBOT_REGISTRY", "KIE_API_KEY", "KIE_API_URL", "DATABASE_URL")}
    env = {**base, "KIE_API_KEY": key, "KIE_API_URL": url or fake.base_url, "PYTHONPATH": str(ROOT)}
    if database_url:
        env["DATABASE_URL"] = database_url
    with trio.fail_after(100):
        return await trio.run_process(
            [sys.executable, "-m", "kiebot", "catalog", "sync", "--min-interval", "0.03", *args],
            cwd=ROOT,
            env=env,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )


async def test_consistent_catalogue_exits_0(fake: FakeKie) -> None:
    result = await sync(fake)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "in sync" in out
    assert "kling-2.6/motion-control" in out  # a new model of a family we sell: information
    # Every sold model's schema was read (a 429 from a loaded machine is retried, not fatal;
    # the exact 1.1 s spacing is proven on virtual time in tests/kie/test_catalogue_client.py).
    assert fake.requests["/api/v1/models/bytedance/seedance-1.5-pro/schema"] >= 1
    assert len(fake.catalogue.admitted) >= len(load_registry().enabled) + 1
    assert fake.requests["/api/v1/models"] == 1  # one unfiltered catalogue read


async def test_changed_price_text_and_a_vanished_model_exit_1_naming_both(fake: FakeKie) -> None:
    fake.catalogue.price_texts["kling-2.6/text-to-video"] = "A 5-second video costs 70 credits (0.35 USD)."
    fake.catalogue.missing.add("google/nano-banana")
    result = await sync(fake, "--json")
    assert result.returncode == 1, result.stderr.decode()
    report = json.loads(result.stdout)
    assert set(report) >= {"drift", "new", "checked_at"}
    drift = {(d["model"], d["kind"]) for d in report["drift"]}
    assert drift == {("kling-2.6/text-to-video", "price"), ("google/nano-banana", "missing")}
    assert all(set(d) == {"model", "kind", "detail"} for d in report["drift"])
    assert "kling-2.6/motion-control" in report["new"]

    text = await sync(fake)
    assert text.returncode == 1
    last_line = text.stdout.decode().strip().splitlines()[-1]
    assert last_line.startswith("drift in: ")
    assert set(last_line.removeprefix("drift in: ").split(", ")) == {"kling-2.6/text-to-video", "google/nano-banana"}


async def test_schema_drift_and_null_schema(fake: FakeKie) -> None:
    fake.catalogue.drop_fields["google/imagen4"] = {"num_images"}
    fake.catalogue.null_schemas.add("z-image")
    report = json.loads((await sync(fake, "--json")).stdout)
    assert [(d["model"], d["kind"]) for d in report["drift"]] == [("google/imagen4", "field")]
    assert report["not_synced"] == ["z-image"]


async def test_unreadable_kie_exits_2(fake: FakeKie) -> None:
    wrong_key = await sync(fake, key="not-the-key")
    assert wrong_key.returncode == 2
    assert "not-the-key" not in wrong_key.stderr.decode() + wrong_key.stdout.decode()
    fake.catalogue.missing.update(m.id for m in load_registry().models)
    fake.catalogue.extra_models.clear()
    empty = await sync(fake)
    assert empty.returncode == 2, empty.stdout.decode()  # an empty catalogue is a broken read
    fake.catalogue.missing.clear()
    fake.fail_next("catalog", 500, times=10)
    down = await sync(fake)
    assert down.returncode == 2, down.stdout.decode()
    assert "could not be read" in down.stderr.decode()


async def test_store_keeps_the_report_and_tells_changed_price_texts(fake: FakeKie, database_url: str, aio_loop: None) -> None:
    assert (await sync(fake, "--store")).returncode == 2  # --store needs DATABASE_URL
    first = await sync(fake, "--store", database_url=database_url)
    assert first.returncode == 0, first.stderr.decode()
    assert "report stored" in first.stderr.decode()
    old_text = pricing_desc(load_registry().require("z-image"))
    fake.catalogue.price_texts["z-image"] = "Each image costs 0.8 credits (0.004 USD), now in 4K too."
    second = await sync(fake, "--store", database_url=database_url)
    out = second.stdout.decode()
    assert second.returncode == 0, out  # same figure: a changed text, not drift
    assert "price texts changed since the last sync (1):" in out
    assert f"before: {old_text}" in out
    assert "after:  Each image costs 0.8 credits (0.004 USD), now in 4K too." in out
    async with Database.open(database_url) as db, db.connection() as conn:
        stored = await catalog_sync.last_report(conn)
        texts = await catalog_sync.price_texts(conn)
    assert stored is not None
    assert stored.report["price_changes"][0]["model"] == "z-image"
    assert texts["z-image"].endswith("now in 4K too.")
