"""What a model's OpenAPI document (``GET /api/v1/models/<model>/schema``) says Kie accepts as
``input`` — pure, no I/O.

Kie's documents are whole OpenAPI 3.1 files for one model (reference: kie-live-truth §2):

* ``paths`` names the create endpoint (``/api/v1/jobs/createTask`` for market models) and its
  request body; market bodies carry the inputs under ``input``, Veo and Suno bodies are flat;
* ``input`` may be given as ``oneOf``/``anyOf`` alternatives (text-only vs with images), each with
  its own ``required``; ``allOf`` parts are merged;
* ``$ref``s are not inlined and point into the same document's ``components``; their key names
  are literal and awkward: a space may be percent-encoded in the ref **or in the key itself**
  (``response%20not%20with%20recordId``), some keys end in a space (``Error ``). A ref is resolved
  by trying the segment as written, percent-decoded and JSON-pointer-unescaped, then by comparing
  keys with both sides decoded and stripped. An unresolvable ref reads as "unknown" (no drift is
  invented from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

import msgspec

_MAX_DEPTH: Final = 24
_MAX_ALTERNATIVES: Final = 64
#: Fields of the create body that are not inputs (market bodies keep inputs under ``input``).
BODY_ONLY: Final = frozenset({"model", "callBackUrl", "callbackUrl", "input"})


class Alternative(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted shape of ``input``: its declared fields and the ones it requires."""

    fields: frozenset[str]
    required: frozenset[str]


class InputSchema(msgspec.Struct, frozen=True, kw_only=True):
    """The union of what ``input`` declares, per-field enums, and each alternative's ``required``.

    ``declared`` is False when the document gives ``input`` no properties at all (an open object):
    then no field can be called undeclared.
    """

    fields: frozenset[str]
    enums: dict[str, tuple[str, ...]]
    alternatives: tuple[Alternative, ...]
    declared: bool = True


def wire_text(value: object) -> str:
    """A value as compared between our registry and Kie's enums: JSON text for bools and numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Doc:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc

    def resolve(self, node: object, depth: int = 0) -> dict[str, Any]:
        """``node`` with ``$ref`` followed (siblings of a ref kept, as OpenAPI 3.1 allows)."""
        if not isinstance(node, Mapping):
            return {}
        ref = node.get("$ref")
        if not isinstance(ref, str) or depth > _MAX_DEPTH:
            return dict(node)
        target = self.lookup(ref)
        if target is None:
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return rest
        merged = dict(self.resolve(target, depth + 1))
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return merged

    def lookup(self, ref: str) -> object | None:
        if not ref.startswith("#"):
            return None  # another document: not available
        node: object = self.doc
        for segment in ref[1:].lstrip("/").split("/"):
            if segment == "":
                continue
            if not isinstance(node, Mapping):
                return None
            node = _child(node, segment)
            if node is None:
                return None
        return node


def _child(node: Mapping[str, object], segment: str) -> object | None:
    pointer = segment.replace("~1", "/").replace("~0", "~")
    candidates = [segment, unquote(segment), pointer, unquote(pointer)]
    for key in candidates:
        if key in node:
            return node[key]
    wanted = {c.strip() for c in candidates}
    for key, value in node.items():
        if isinstance(key, str) and (key.strip() in wanted or unquote(key).strip() in wanted):
            return value
    return None


def _alternatives(doc: _Doc, node: object, depth: int = 0) -> list[tuple[dict[str, Any], frozenset[str]]]:
    """Every shape ``node`` accepts as (properties, required), following refs and combinators."""
    schema = doc.resolve(node)
    if depth > _MAX_DEPTH:
        return [({}, frozenset())]
    props = schema.get("properties")
    base_props: dict[str, Any] = dict(props) if isinstance(props, Mapping) else {}
    required = schema.get("required")
    base_required = frozenset(r for r in required if isinstance(r, str)) if isinstance(required, list) else frozenset()
    shapes = [(base_props, base_required)]
    all_of = schema.get("allOf")
    if isinstance(all_of, list):
        for part in all_of:
            part_shapes = _alternatives(doc, part, depth + 1)
            shapes = [
                ({**p, **q}, r | s) for p, r in shapes for q, s in part_shapes
            ][:_MAX_ALTERNATIVES]
    for combinator in ("oneOf", "anyOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            option_shapes = [shape for option in options for shape in _alternatives(doc, option, depth + 1)]
            shapes = [
                ({**p, **q}, r | s) for p, r in shapes for q, s in option_shapes
            ][:_MAX_ALTERNATIVES]
    return shapes


def _enum_of(doc: _Doc, node: object, depth: int = 0) -> tuple[str, ...] | None:
    """The values a property allows, when it lists them (``enum``, ``const`` or a oneOf of them)."""
    schema = doc.resolve(node)
    if depth > _MAX_DEPTH:
        return None
    values: list[str] = []
    listed = False
    enum = schema.get("enum")
    if isinstance(enum, list):
        listed = True
        values += [wire_text(v) for v in enum if v is not None]
    if "const" in schema:
        listed = True
        values.append(wire_text(schema["const"]))
    for combinator in ("oneOf", "anyOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            parts = [_enum_of(doc, option, depth + 1) for option in options]
            if any(p is None for p in parts):
                return None  # one option takes any value
            listed = True
            values += [v for p in parts if p for v in p]
    return tuple(dict.fromkeys(values)) if listed else None


def _request_schema(doc: _Doc, create_path: str | None) -> object | None:
    """The JSON request body schema of the create operation (``create_path`` first, else any POST)."""
    paths = doc.doc.get("paths")
    if not isinstance(paths, Mapping):
        return None
    ordered = sorted(paths.items(), key=lambda item: (item[0] != create_path, str(item[0])))
    for _, path_item in ordered:
        item = doc.resolve(path_item)
        for method in ("post", "put", "patch"):
            operation = doc.resolve(item.get(method))
            body = doc.resolve(operation.get("requestBody"))
            content = body.get("content")
            if not isinstance(content, Mapping) or not content:
                continue
            media = content.get("application/json") or next(iter(content.values()))
            schema: object = doc.resolve(media).get("schema")
            if schema is not None:
                return schema
    return None


def read_input_schema(openapi: Mapping[str, Any], *, flat: bool, create_path: str | None = None) -> InputSchema | None:
    """What ``input`` (market) or the flat body (``flat=True``: Veo, Suno) accepts; None when the
    document has no request body to read."""
    doc = _Doc(openapi)
    body = _request_schema(doc, create_path)
    if body is None:
        return None
    target: object = body
    if not flat:
        inputs = [p["input"] for p, _ in _alternatives(doc, body) if "input" in p]
        if not inputs:
            return None
        target = inputs[0]
    shapes = _alternatives(doc, target)
    skip = BODY_ONLY if flat else frozenset()
    fields: set[str] = set()
    enums: dict[str, list[str]] = {}
    open_values: set[str] = set()
    alternatives = []
    for props, required in shapes:
        names = frozenset(k for k in props if isinstance(k, str) and k not in skip)
        fields |= names
        alternatives.append(Alternative(fields=names, required=frozenset(required - skip)))
        for name in names:
            values = _enum_of(doc, props[name])
            if values is None:
                open_values.add(name)  # some shape takes any value here
            else:
                enums.setdefault(name, []).extend(values)
    return InputSchema(
        fields=frozenset(fields),
        enums={k: tuple(dict.fromkeys(v)) for k, v in enums.items() if k not in open_values},
        alternatives=tuple(alternatives),
        declared=bool(fields),
    )
