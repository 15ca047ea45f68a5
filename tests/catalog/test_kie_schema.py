"""Reading ``input`` out of Kie's per-model OpenAPI documents (kiebot.catalog.kie_schema)."""

from __future__ import annotations

from typing import Any

import pytest

from kiebot.catalog import load_registry
from kiebot.catalog.drift import schema_drift
from kiebot.catalog.kie_schema import read_input_schema
from kiebot.testing.kie.catalogue import FakeCatalogue

CREATE = "/api/v1/jobs/createTask"


def doc(body: dict[str, Any], components: dict[str, Any] | None = None, path: str = CREATE) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "paths": {path: {"post": {"requestBody": {"content": {"application/json": {"schema": body}}}}}},
        "components": {"schemas": components or {}},
    }


def test_plain_input_with_enums_and_required() -> None:
    body = {
        "type": "object",
        "properties": {
            "model": {"type": "string"},
            "input": {
                "type": "object",
                "properties": {"prompt": {"type": "string"}, "duration": {"type": "string", "enum": ["5", "10"]}, "sound": {"type": "boolean"}},
                "required": ["prompt"],
            },
        },
    }
    schema = read_input_schema(doc(body), flat=False, create_path=CREATE)
    assert schema is not None
    assert schema.fields == {"prompt", "duration", "sound"}
    assert schema.enums == {"duration": ("5", "10")}
    assert [a.required for a in schema.alternatives] == [frozenset({"prompt"})]


def test_one_of_alternatives_each_with_their_required() -> None:
    body = {
        "properties": {
            "input": {
                "oneOf": [
                    {"properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
                    {"properties": {"prompt": {"type": "string"}, "image_urls": {"type": "array"}}, "required": ["prompt", "image_urls"]},
                ]
            }
        }
    }
    schema = read_input_schema(doc(body), flat=False)
    assert schema is not None
    assert schema.fields == {"prompt", "image_urls"}
    assert {a.required for a in schema.alternatives} == {frozenset({"prompt"}), frozenset({"prompt", "image_urls"})}


@pytest.mark.parametrize(
    ("ref", "key"),
    [
        ("#/components/schemas/Input%20Params", "Input Params"),  # encoded in the ref only
        ("#/components/schemas/response%20not%20with%20recordId", "response%20not%20with%20recordId"),  # literal %20 key
        ("#/components/schemas/Error%20", "Error "),  # key ending in a space, encoded
        ("#/components/schemas/Error ", "Error "),  # key ending in a space, written
        ("#/components/schemas/Error", "Error "),  # the space dropped in the ref
        ("#/components/schemas/a~1b", "a/b"),  # JSON pointer escape
    ],
)
def test_awkward_ref_keys_resolve(ref: str, key: str) -> None:
    body = {"properties": {"input": {"$ref": ref}}}
    components = {key: {"properties": {"prompt": {"$ref": "#/components/schemas/Prompt%20"}}, "required": ["prompt"]}, "Prompt ": {"type": "string"}}
    schema = read_input_schema(doc({"$ref": "#/components/schemas/Create%20Task"}, {"Create Task": body, **components}), flat=False)
    assert schema is not None
    assert schema.fields == {"prompt"}


def test_enum_behind_a_ref_and_all_of_parts_merge() -> None:
    body = {
        "properties": {
            "input": {
                "allOf": [
                    {"properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
                    {"properties": {"resolution": {"$ref": "#/components/schemas/Resolution%20"}}},
                ]
            }
        }
    }
    schema = read_input_schema(doc(body, {"Resolution ": {"type": "string", "enum": ["720p", "1080p"]}}), flat=False)
    assert schema is not None
    assert schema.fields == {"prompt", "resolution"}
    assert schema.enums["resolution"] == ("720p", "1080p")


def test_unresolvable_refs_and_missing_parts_invent_nothing() -> None:
    assert read_input_schema({"openapi": "3.1.0"}, flat=False) is None
    assert read_input_schema(doc({"properties": {"model": {}}}), flat=False) is None
    schema = read_input_schema(doc({"properties": {"input": {"$ref": "#/components/schemas/Nowhere"}}}), flat=False)
    assert schema is not None
    assert not schema.declared  # an open object: no field can be undeclared
    spec = load_registry().require("kling-2.6/text-to-video")
    assert schema_drift(spec, schema) == []


def test_a_cyclic_ref_terminates() -> None:
    body = {"properties": {"input": {"$ref": "#/components/schemas/Loop"}}}
    schema = read_input_schema(doc(body, {"Loop": {"$ref": "#/components/schemas/Loop"}}), flat=False)
    assert schema is not None


def test_flat_bodies_skip_model_and_callback() -> None:
    body = {"properties": {"model": {"enum": ["veo3_fast"]}, "callBackUrl": {}, "prompt": {}, "aspectRatio": {"enum": ["16:9", "9:16"]}}, "required": ["model", "prompt"]}
    schema = read_input_schema(doc(body, path="/api/v1/veo/generate"), flat=True, create_path="/api/v1/veo/generate")
    assert schema is not None
    assert schema.fields == {"prompt", "aspectRatio"}
    assert schema.alternatives[0].required == {"prompt"}


def test_every_fake_schema_reads_back_without_drift() -> None:
    """The fake's documents (awkward keys, oneOf inputs) read back to exactly the registry's inputs."""
    registry = load_registry()
    fake = FakeCatalogue(registry)
    for spec in registry.enabled:
        openapi = fake.openapi(spec)
        assert openapi is not None
        schema = read_input_schema(openapi, flat=spec.family != "market", create_path=spec.create_path)
        assert schema is not None, spec.id
        assert schema_drift(spec, schema) == [], spec.id
