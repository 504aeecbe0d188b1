"""qm_platform.fields.ResultJSONField: the same stored JSON values as Django's JSONField (read back
equal, and equal as jsonb in PostgreSQL), the same errors, Django's path for what orjson would
write differently, and the result columns compressed with LZ4. ResultDocumentField: the run's
documents stored as json, their text as written, read back the same."""

from __future__ import annotations

import datetime
import json
import math
import random

import numpy as np
import pytest
from django.db import DataError, connection, transaction

from backtests.models import BacktestRun
from qm_platform.fields import fast_dumps

pytestmark = pytest.mark.django_db


def _document(rng: random.Random) -> dict:
    """A result-shaped document: curves of [iso, float] pairs over every magnitude, nested dicts,
    ints, strings with escapes, nulls, booleans, -0.0."""

    def number() -> float:
        return rng.choice([-1, 1]) * rng.random() * 10 ** rng.randint(-12, 15)

    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    curve = [[(start + datetime.timedelta(minutes=15 * i)).isoformat(), number()] for i in range(400)]
    return {
        "curve": curve,
        "metrics": {f"m{i}": number() for i in range(50)} | {"zero": -0.0, "none": None, "flag": True, "n": 10**15},
        "text": 'quote " backslash \\ newline \n tab \t unicode é € \u2028 \x01',
        "nested": [[1, 2.5, [None, {"a": [1e-300, 5e-324, 123.456]}]]],
        "ints": [0, -1, 2**53 + 1, -(2**63)],
    }


def test_encoding_gives_the_values_json_dumps_gives():
    rng = random.Random(7)
    for _ in range(20):
        document = _document(rng)
        text = fast_dumps(document)
        assert text is not None
        assert json.loads(text) == json.loads(json.dumps(document))
        # floats: the same double, bit for bit, including -0.0's sign
        assert repr(json.loads(text)["metrics"]) == repr(json.loads(json.dumps(document))["metrics"])


@pytest.mark.parametrize(
    "value",
    [
        {1: "int key"},
        2**70,
        np.float64(1.5),
        {"a": np.int64(3)},
        datetime.datetime(2024, 1, 1),
    ],
)
def test_what_orjson_would_write_differently_goes_to_json_dumps(value):
    assert fast_dumps(value) is None


def test_a_nan_or_infinity_is_written_as_null():
    """JSON's spelling of a number that is not one (json.dumps wrote NaN, which PostgreSQL refused)."""
    assert fast_dumps({"a": None, "b": [1.0, math.nan], "c": math.inf, "d": -math.inf}) == (
        '{"a":null,"b":[1.0,null],"c":null,"d":null}'
    )


def _stored(run_id, column: str, as_jsonb: bool = True) -> str:
    """The column's value as PostgreSQL prints it: as jsonb (the JSON value, whatever the text it
    was written as) or as its own text."""
    cast = "::jsonb::text" if as_jsonb else "::text"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}{cast} FROM backtests_backtestrun WHERE id = %s", [run_id])
        return cursor.fetchone()[0]


def test_stored_jsonb_is_what_django_jsonfield_stores(alice):
    """The same document written by this field and by psycopg's own Jsonb (json.dumps, what
    Django's JSONField uses) is the same jsonb, and reads back equal, float for float."""
    rng = random.Random(11)
    for _ in range(5):
        document = _document(rng)
        run = BacktestRun.objects.create(owner=alice, request={}, market="X", timeframe="1h", direction="Long")
        BacktestRun.objects.filter(id=run.id).update(metrics=document)  # this field (jsonb)
        with connection.cursor() as cursor:
            from psycopg.types.json import Jsonb

            cursor.execute("UPDATE backtests_backtestrun SET request = %s WHERE id = %s", [Jsonb(document), run.id])
        assert _stored(run.id, "metrics") == _stored(run.id, "request")
        back = BacktestRun.objects.get(id=run.id)
        assert back.metrics == back.request == json.loads(json.dumps(document))
        # what Django's JSONField would read (json.loads of the column's text), float for float
        assert repr(back.metrics) == repr(json.loads(_stored(run.id, "request")))


def test_a_whole_float_beyond_64_bits_reads_back_as_the_float_it_was(alice):
    """PostgreSQL prints a whole number's numeric without a point (1e300 as 1 and 300 zeros):
    ``json.loads`` reads that back as an int, orjson as the float that was written (the one place
    the two readers differ: the value is equal either way)."""
    run = BacktestRun.objects.create(owner=alice, request={}, market="X", timeframe="1h", direction="Long")
    BacktestRun.objects.filter(id=run.id).update(metrics={"big": 1e300, "edge": float(2**64), "under": 1.5e19})
    metrics = BacktestRun.objects.get(id=run.id).metrics
    assert metrics == {"big": 1e300, "edge": float(2**64), "under": 15 * 10**18}
    assert isinstance(metrics["big"], float) and isinstance(metrics["edge"], float)
    assert json.loads(_stored(run.id, "metrics"))["big"] == 10**300  # what JSONField reads: an int


def test_a_nan_is_stored_as_null_and_a_plain_jsonfield_still_refuses_it(alice):
    """A figure that is not a number reads back as None (the platform's "cannot be computed"),
    where Django's JSONField (json.dumps) makes PostgreSQL refuse the whole write."""
    run = BacktestRun.objects.create(owner=alice, request={"a": 1}, market="X", timeframe="1h", direction="Long")
    BacktestRun.objects.filter(id=run.id).update(metrics={"sharpe": math.nan, "calmar": math.inf, "n": 3})
    assert BacktestRun.objects.get(id=run.id).metrics == {"sharpe": None, "calmar": None, "n": 3}
    with pytest.raises(DataError), transaction.atomic():
        BacktestRun.objects.filter(id=run.id).update(request={"sharpe": math.nan})  # a plain JSONField
    assert BacktestRun.objects.get(id=run.id).request == {"a": 1}


def test_key_lookups_and_values_still_work(alice):
    run = BacktestRun.objects.create(
        owner=alice, request={}, market="X", timeframe="1h", direction="Long", metrics={"sharpe": 1.25, "name": "a"}
    )
    assert BacktestRun.objects.filter(metrics__sharpe__gt=1).get().id == run.id
    assert list(BacktestRun.objects.filter(id=run.id).values_list("metrics__sharpe", "metrics__name")) == [(1.25, "a")]
    assert BacktestRun.objects.filter(metrics={"sharpe": 1.25, "name": "a"}).exists()


def test_the_result_columns_are_compressed_with_lz4(alice):
    big = {"curve": [[i, i * 1.5] for i in range(5000)]}
    run = BacktestRun.objects.create(owner=alice, request={}, market="X", timeframe="1h", direction="Long")
    BacktestRun.objects.filter(id=run.id).update(report_data=big, equity_detail=big, montecarlo=big, equity_curve=big)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(report_data), pg_column_compression(equity_detail), "
            "pg_column_compression(montecarlo), pg_column_compression(equity_curve) "
            "FROM backtests_backtestrun WHERE id = %s",
            [run.id],
        )
        assert cursor.fetchone() == ("lz4", "lz4", "lz4", "lz4")


DOCUMENTS = ("equity_curve", "report_data", "equity_detail", "montecarlo")


def test_the_documents_are_json_and_the_searched_fields_jsonb():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'backtests_backtestrun' AND data_type IN ('json', 'jsonb')"
        )
        types = dict(cursor.fetchall())
    assert {column: types[column] for column in DOCUMENTS} == dict.fromkeys(DOCUMENTS, "json")
    assert types["metrics"] == types["timings"] == types["request"] == "jsonb"


def test_a_document_is_stored_as_its_text_and_read_back_float_for_float(alice):
    """json keeps the text orjson wrote (jsonb would have parsed and reprinted it); reading it
    back gives what json.loads of json.dumps gives, float for float, through the field's decoder
    (psycopg hands the text over: the connection's json loader)."""
    rng = random.Random(5)
    for _ in range(5):
        document = _document(rng)
        run = BacktestRun.objects.create(owner=alice, request={}, market="X", timeframe="1h", direction="Long")
        BacktestRun.objects.filter(id=run.id).update(**dict.fromkeys(DOCUMENTS, document), metrics=document)
        for column in DOCUMENTS:
            assert _stored(run.id, column, as_jsonb=False) == fast_dumps(document)
            assert _stored(run.id, column) == _stored(run.id, "metrics")  # the same JSON value as jsonb holds
        back = BacktestRun.objects.get(id=run.id)
        expected = repr(json.loads(json.dumps(document)))
        assert [repr(getattr(back, column)) for column in DOCUMENTS] == [expected] * len(DOCUMENTS)
        assert repr(BacktestRun.objects.filter(id=run.id).values_list("report_data", flat=True).get()) == expected


def test_a_document_refuses_what_is_not_json_and_keeps_nan_as_null(alice):
    run = BacktestRun.objects.create(owner=alice, request={}, market="X", timeframe="1h", direction="Long")
    BacktestRun.objects.filter(id=run.id).update(montecarlo={"p": [1.0, math.nan, math.inf]}, report_data=None)
    back = BacktestRun.objects.get(id=run.id)
    assert back.montecarlo == {"p": [1.0, None, None]} and back.report_data is None
    with pytest.raises(DataError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE backtests_backtestrun SET report_data = %s WHERE id = %s", ["{not json", run.id])
