"""JSON that cannot exhaust the server: a nesting limit, checked without recursion.

DRF's ``JSONParser`` (strict: NaN and Infinity refused) hands the document to ``json.loads``,
which recurses once per level: a body of 100,000 ``[`` ends in RecursionError, and a body
600 levels deep parses but then breaks every recursive walk after it (serializers,
``copy.deepcopy``, templates). No request of this API needs more than a dozen levels.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32


def json_depth(text: str) -> int:
    """The deepest nesting of objects and arrays in a JSON text (strings skipped), in one
    pass without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads_bounded(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity and nesting deeper than MAX_JSON_DEPTH
    (ValueError, with a message for people)."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"the JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    value = json.loads(text, parse_constant=_refuse_constant)
    return value


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return loads_bounded(stream.read().decode(encoding))
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise ParseError(f"JSON parse error - {exc}") from None


# The value of a UUID in a URL path: anything else is a 404 before a query is made.
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
