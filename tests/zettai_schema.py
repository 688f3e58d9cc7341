"""The 絶対リーチ! OpenAPI document (tests/data, a verbatim copy of
shared/reference/zettai-reach-openapi-1.4.7.json) as JSON Schema validators.

OpenAPI 3.0 schemas are JSON Schema with a few differences; the ones the document uses are
converted: ``$ref`` to components is inlined and ``nullable: true`` adds ``null`` to the type.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

SPEC = Path(__file__).parent / "data" / "zettai-reach-openapi-1.4.7.json"


@cache
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


def _convert(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_convert(n, components) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _convert(components[name], components)
    out = {k: _convert(v, components) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def schema(name: str) -> dict[str, Any]:
    """A component schema, converted."""
    components = document()["components"]["schemas"]
    converted: dict[str, Any] = _convert(components[name], components)
    return converted


def response_schema(path: str, method: str) -> dict[str, Any]:
    """The schema of an operation's 200 answer, converted."""
    operation = document()["paths"][path][method]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]
    components = document()["components"]["schemas"]
    converted: dict[str, Any] = _convert(ref, components)
    return converted


def validate(path: str, method: str, body: Any, *, error: bool = False) -> None:
    """Check an answer against its operation's schema. An error answer (responseCode != 0)
    must still match every property it has; only responseCode and responseMessage are then
    required (the operations' fields describe a success)."""
    spec = response_schema(path, method)
    if error:
        spec = copy.deepcopy(spec)
        spec["required"] = ["responseCode", "responseMessage"]
    jsonschema.validate(body, spec)


def validate_error_body(body: Any) -> None:
    """An answer outside the responseCode tables: the document's Error schema."""
    jsonschema.validate(body, schema("Error"))


def response_codes(path: str, method: str) -> dict[int, str]:
    """The responseCode table of an operation: code -> responseMessage pattern."""
    text = document()["paths"][path][method]["responses"]["200"]["description"]
    rows: dict[int, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1]
    return rows
