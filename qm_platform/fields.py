"""A JSONField for the large results a run stores, encoded and decoded with orjson.

Every succeeded run writes about 230 KB of JSON (its equity curves, report data, Monte Carlo and
metrics) and the report, the API and the result cache read it back. Django's ``JSONField``
encodes with ``json.dumps`` and decodes with ``json.loads``; on those documents that is 5–6 ms of
a worker's CPU a run to encode alone (bench/throughput.py's run: report data 2.9 ms, equity detail
2.5 ms), where orjson takes 0.7 ms. Django has no setting for the codec (a field's ``encoder``
must be a ``json.JSONEncoder``), so this field overrides the two methods that call it and keeps
everything else of ``JSONField`` (lookups, forms, admin, migrations' column type: ``jsonb`` on
PostgreSQL).

The stored JSON values are the same as ``json.dumps`` would give: orjson writes each float as
its shortest round-tripping repr, like Python, only spelled differently in places ("1e-5" for
"1e-05"), which PostgreSQL's ``jsonb`` and any JSON reader take as the same number. Anything
orjson refuses or would write differently goes to Django's own path, so its result (or its
error) is exactly what it was: integers beyond 64 bits, non-string keys, ``datetime``,
dataclasses, numpy scalars and other types ``json.dumps`` rejects or converts (orjson's
passthrough options hand them back). The one deliberate difference: a NaN or an infinity is
written as ``null``, JSON's only spelling for a number that is not one, and the platform's
convention for a figure that cannot be computed (the engine stores such metrics as null itself).
``json.dumps`` wrote ``NaN``, which PostgreSQL refuses: the whole run failed on storing; finding
one in a 230 KB document costs a walk as long as ``json.dumps`` itself.

Decoding falls back the same way for text orjson cannot read. The one difference in what is read:
PostgreSQL prints a whole number's ``numeric`` without a point (the float 1e300 as a 1 and 300
zeros); beyond 64 bits ``json.loads`` reads that as a Python int and orjson as the float that was
written. The values are equal; every figure the platform stores is a float or a small int.

``ResultDocumentField`` is the same field stored as PostgreSQL's ``json`` (the text, checked to be
JSON) instead of ``jsonb`` (parsed into a binary tree), for the documents nothing searches inside:
a run's curves, report data and Monte Carlo, which are only ever written whole and read whole.
Parsing them into ``jsonb`` was most of PostgreSQL's CPU for a run (bench/throughput.py: about
2.8 ms of the 3.7 ms a run's results cost the server with LZ4, measured on inserts of a stored
run's documents); ``json`` stores the text as written. What is read back is the same JSON value;
only the text differs where ``jsonb`` rewrote it (its key order, its spelling of numbers, "1e-5"
as "0.00001"), which no reader sees once parsed. Fields whose keys are searched (``metrics``:
the run list's search by strategy text) stay ``jsonb``; ``json`` has no equality or containment
operators. Elsewhere (SQLite) both are Django's text column.
"""

from __future__ import annotations

from typing import Any

import orjson
from django.db import models
from django.db.backends.signals import connection_created
from psycopg.types.json import Json, Jsonb
from psycopg.types.string import TextLoader

_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _refuse(value: Any) -> Any:
    raise TypeError  # orjson's ``default``: a type it does not write itself goes to json.dumps


def fast_dumps(value: Any) -> str | None:
    """``value`` as JSON text by orjson, or None where ``json.dumps`` must decide (see the module
    docstring): a type orjson would not write as json.dumps does."""
    try:
        return orjson.dumps(value, default=_refuse, option=_PASSTHROUGH).decode()
    except (orjson.JSONEncodeError, TypeError):
        return None


class ResultJSONField(models.JSONField):
    """``JSONField`` encoded and decoded by orjson (see the module docstring)."""

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if self.encoder is None and not isinstance(value, models.Expression):
            text = fast_dumps(value)
            if text is not None:
                if connection.vendor == "postgresql":
                    return Jsonb(value, dumps=lambda _: text)
                return text
        return connection.ops.adapt_json_value(value, self.encoder)

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str) and self.decoder is None:
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                pass  # e.g. a number beyond a double's range, which json.loads reads as inf
        return super().from_db_value(value, expression, connection)


class ResultDocumentField(ResultJSONField):
    """``ResultJSONField`` stored as ``json`` on PostgreSQL (see the module docstring): for a
    document written and read whole, never searched inside."""

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        adapted = super().get_db_prep_value(value, connection, prepared)
        if isinstance(adapted, Jsonb):  # sent as json: PostgreSQL would parse a jsonb parameter into jsonb first
            return Json(adapted.obj, dumps=adapted.dumps)
        return adapted


def _json_as_text(sender, connection, **kwargs) -> None:
    """``json`` columns read as their text, as Django has psycopg read ``jsonb`` (its
    ``get_adapters_template``): the field decodes it (orjson) instead of psycopg's ``json.loads``
    decoding first."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_loader("json", TextLoader)


connection_created.connect(_json_as_text, dispatch_uid="qm-json-as-text")
