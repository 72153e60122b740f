"""The public API's OpenAPI 3.1 description, produced from the routes themselves.

Each view declares its operation (`documented`: summary, response schema, query
parameters); the paths and path parameters come from the blueprint's URL rules, so the
description cannot list a route that does not exist or miss one that does (`describe`
refuses a rule without an operation). CI runs schemathesis over it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from werkzeug.routing import Map

F = TypeVar("F", bound=Callable[..., Any])
Schema = dict[str, Any]

PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Operation:
    summary: str
    description: str
    schema: Schema  # the 200 answer's JSON Schema
    query: tuple[Schema, ...] = ()  # OpenAPI parameter objects `in: query`
    media_type: str = "application/json"
    path_descriptions: dict[str, str] = field(default_factory=dict)


_operations: dict[str, Operation] = {}  # by view name


def documented(operation: Operation) -> Callable[[F], F]:
    def register(view: F) -> F:
        _operations[view.__name__] = operation
        return view

    return register


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


STRING = {"type": "string"}
INTEGER = {"type": "integer", "minimum": 0}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
URL = {"type": "string", "format": "uri"}


def obj(required: list[str] | None = None, **properties: Schema) -> Schema:
    """An object with exactly these properties, all required unless told."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


MAX_PAGE, MAX_PER_PAGE, PER_PAGE = 10_000, 100, 50
PAGE_PARAMETERS: tuple[Schema, ...] = (
    {
        "name": "page",
        "in": "query",
        "required": False,
        "description": "Page number, from 1.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "required": False,
        "description": "Items per page.",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PER_PAGE,
            "default": PER_PAGE,
        },
    },
)


def page_of(item: Schema, **envelope: Schema) -> Schema:
    """A page of a list: its items and where the next page is (null on the last)."""
    return obj(
        items={"type": "array", "items": item},
        page={"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        per_page={"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        total=INTEGER,
        next=nullable(URL),
        **envelope,
    )


PROBLEM_SCHEMA = obj(
    required=["type", "title", "status"],
    type={"type": "string"},
    title={"type": "string"},
    status={"type": "integer", "minimum": 400, "maximum": 599},
    detail={"type": "string"},
)

_RULE_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")
_TYPES = {"int": {"type": "integer", "minimum": 0}, None: {"type": "string"}}


def _path_and_parameters(rule: str, operation: Operation) -> tuple[str, list[Schema]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "description": operation.path_descriptions.get(name, ""),
            "schema": _TYPES.get(converter, {"type": "string"}),
        }
        for converter, name in _RULE_ARGUMENT.findall(rule)
    ]
    return _RULE_ARGUMENT.sub(r"{\2}", rule), parameters


def _answers(operation: Operation) -> dict[str, Any]:
    problem = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    answers: dict[str, Any] = {
        "200": {
            "description": "OK",
            "headers": {
                "ETag": {"schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}},
            },
            "content": {operation.media_type: {"schema": operation.schema}},
        },
        "304": {"description": "Not modified since the ETag given in If-None-Match."},
        "429": {"description": "Too many requests from this client.", "content": problem},
    }
    answers["400"] = {"description": "A parameter is not valid.", "content": problem}
    answers["404"] = {"description": "No such resource.", "content": problem}
    return answers


def describe(url_map: Map, prefix: str, blueprint: str, info: dict[str, str]) -> Schema:
    """The OpenAPI document of the blueprint's GET routes under `prefix`."""
    paths: dict[str, Any] = {}
    for rule in sorted(url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.endpoint.startswith(f"{blueprint}.") or "GET" not in (rule.methods or ()):
            continue
        view = rule.endpoint.split(".", 1)[1]
        operation = _operations.get(view)
        if operation is None:
            raise LookupError(f"API route {rule.rule} has no documented operation")
        if operation.schema == {}:  # the catch-all for unknown paths: not an operation
            continue
        path, parameters = _path_and_parameters(rule.rule.removeprefix(prefix), operation)
        paths[path] = {
            "get": {
                "operationId": view,
                "summary": operation.summary,
                "description": operation.description,
                "parameters": parameters + list(operation.query),
                "responses": _answers(operation),
            }
        }
    return {
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": prefix}],
        "paths": paths,
        "components": {"schemas": {"Problem": PROBLEM_SCHEMA}},
    }
