"""One catalogue sync against Kie: read, then compare (:func:`kiebot.catalog.drift.compare`).

Order of calls, all through the client's shared pacer (1 request/s for the four discovery
endpoints, reference: kie-live-truth §3):

1. one unfiltered ``GET /api/v1/models`` — if it fails (or lists nothing at all),
   :class:`~kiebot.kie.errors.KieError` propagates (``catalog sync`` exits 2: Kie could not be read);
2. for each sold model found there without a ``pricingDesc``: ``/price``;
3. for each sold model found there: ``/schema`` (≥ 1.1 s apart). A failed schema read is a note
   of the report, not drift and not a failed sync: the next run reads it again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from kiebot.catalog.drift import SyncReport, compare, find_entry, index_catalogue
from kiebot.catalog.kie_schema import InputSchema, read_input_schema
from kiebot.catalog.types import Registry
from kiebot.kie.catalogue import CatalogueClient
from kiebot.kie.errors import KieError, UnexpectedResponse

log = logging.getLogger(__name__)


async def run_sync(
    client: CatalogueClient,
    registry: Registry,
    *,
    now: datetime,
    previous_texts: Mapping[str, str] | None = None,
    read_schemas: bool = True,
) -> SyncReport:
    """Read Kie's catalogue (and the schemas of the models we sell) and compare.

    Raises:
        KieError: the catalogue itself could not be read.
    """
    catalogue = await client.models()
    if not catalogue:
        # Kie never lists nothing: an empty answer is a broken read, not every model retired.
        raise UnexpectedResponse("models: the catalogue came back empty")
    index = index_catalogue(catalogue)
    sold = registry.enabled
    schemas: dict[str, InputSchema | None] = {}
    errors: dict[str, str] = {}
    texts: dict[str, str] = {}
    for spec in sold:
        entry = find_entry(spec, index)
        if entry is None:
            continue
        if not entry.pricing_desc:
            try:
                text = await client.price(entry.model)
            except (KieError, ValueError) as exc:
                log.warning("kie price text unreadable", extra={"model": spec.id, "error": type(exc).__name__})
            else:
                if text:
                    texts[spec.id] = text
        if not read_schemas:
            continue
        try:
            openapi = await client.schema(entry.model)
        except (KieError, ValueError) as exc:
            errors[spec.id] = type(exc).__name__
            log.warning("kie schema unreadable", extra={"model": spec.id, "error": type(exc).__name__})
            continue
        if openapi is None:
            schemas[spec.id] = None
            continue
        schema = read_input_schema(openapi, flat=spec.family != "market", create_path=spec.create_path)
        if schema is None:
            errors[spec.id] = "no request body in the schema"
        else:
            schemas[spec.id] = schema
    return compare(
        sold,
        catalogue,
        checked_at=now,
        schemas=schemas,
        schema_errors=errors,
        price_texts=texts,
        previous_texts=previous_texts,
        known_ids=[m.id for m in registry.models] + [m.request_model for m in registry.models],
    )
