"""Holding a response to the OpenAPI document: its status, headers, content type and body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from confapp.openapi import OPENAPI

DOCUMENT_URI = "urn:confapp:openapi"
REGISTRY = Registry().with_resource(DOCUMENT_URI, Resource.opaque(OPENAPI))


def resolve(item: dict[str, Any]) -> dict[str, Any]:
    """A response or parameter object, following a $ref into components."""
    while "$ref" in item:
        item = REGISTRY.resolver(DOCUMENT_URI).lookup(DOCUMENT_URI + item["$ref"]).contents
    return item


class AnyResponse(Protocol):
    """What a TestClient response and the fuzzer's raw answers have in common."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_matches_contract(method: str, path: str, response: AnyResponse) -> None:
    """The response's status, content type, headers and body are what the document says."""
    operation = OPENAPI["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method.upper()} {path} answered {status}, which the document does not list: "
        f"{response.text[:300]}"
    )
    documented = resolve(operation["responses"][status])
    for name, header in documented.get("headers", {}).items():
        if resolve(header).get("required"):
            assert name in response.headers, f"{method.upper()} {path} {status} lacks {name}"
    if "content" not in documented:
        assert not response.content
        return
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in documented["content"], (method, path, status, media_type)
    if media_type != "application/json":
        return  # a page or plain text (outside /api/): its media type is all it promises
    schema = {"$ref": DOCUMENT_URI + documented["content"][media_type]["schema"]["$ref"]}
    validator = Draft202012Validator(
        schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(response.json())
    ]
    assert not errors, f"{method.upper()} {path} {status}: " + "; ".join(errors[:10])
