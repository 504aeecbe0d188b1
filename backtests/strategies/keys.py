"""Unknown keys in a request, at every level: a near miss of a known key is a typo, refused.

``marketContxt``, ``timefame`` or ``moduleID`` would otherwise be dropped by the serializer and
the run would go ahead on defaults (or fail with a puzzling "field is required"). A key that is
close to a known one (``difflib.get_close_matches``, or equal but for case) is a 400
INVALID_REQUEST naming the field and the close matches; a key that resembles nothing is
ignored and reported as a warning on the run, as before (clients may carry their own
annotations).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from qm_platform.errors import CodedError

from .expand import GENERATED

CUTOFF = 0.75  # "strategy" is not "strategyName"; "timefame" is "timeframe"


def _fields(serializer_cls) -> tuple[str, ...]:
    return tuple(serializer_cls().fields)


@functools.cache
def _known() -> dict[str, tuple[str, ...]]:
    """The known keys of each kind of object, from the serializers' declared fields (fixed per
    class: built once per process, not per request; a serializer's fields cost a deep copy of
    every declared field, about 5 ms for the ten of them)."""
    from backtests.api.serializers import (
        BacktestRequestSerializer,
        DecisionBlockSerializer,
        MarketContextSerializer,
        SubConfirmationSerializer,
    )

    from .v5 import (
        HtfBiasSerializer,
        IctSerializer,
        StopSerializer,
        SwingSerializer,
        TargetSerializer,
        V5RequestSerializer,
    )

    return {
        "v4": _fields(BacktestRequestSerializer) + ("template", "kind"),
        "ict": _fields(V5RequestSerializer) + ("template",),
        "marketContext": _fields(MarketContextSerializer),
        "block": _fields(DecisionBlockSerializer) + (GENERATED,),
        "sub": _fields(SubConfirmationSerializer),
        "ict.body": _fields(IctSerializer),
        "ict.htfBias": _fields(HtfBiasSerializer),
        "ict.swing": _fields(SwingSerializer),
        "ict.stop": _fields(StopSerializer),
        "ict.target": _fields(TargetSerializer),
    }


BLOCK_LISTS = ("decisionBlocks", "shortDecisionBlocks", "exitBlocks", "shortExitBlocks")


def _objects(body: Mapping[str, Any], known: dict[str, tuple[str, ...]]) -> Iterator[tuple[str, Any, tuple]]:
    """(path, object, its known keys) for every object of the request whose keys are fixed."""
    is_ict = body.get("kind") == "ict"
    yield "", body, known["ict" if is_ict else "v4"]
    yield "marketContext", body.get("marketContext"), known["marketContext"]
    if is_ict:
        ict = body.get("ict")
        yield "ict", ict, known["ict.body"]
        if isinstance(ict, Mapping):
            for key in ("htfBias", "swing", "stop", "target"):
                yield f"ict.{key}", ict.get(key), known[f"ict.{key}"]
            htf = ict.get("htfBias")
            if isinstance(htf, Mapping):
                yield "ict.htfBias.swing", htf.get("swing"), known["ict.swing"]
        return
    for name in BLOCK_LISTS:
        blocks = body.get(name)
        if not isinstance(blocks, list):
            continue
        for b, block in enumerate(blocks):
            yield f"{name}[{b}]", block, known["block"]
            subs = block.get("subConfirmations") if isinstance(block, Mapping) else None
            if isinstance(subs, list):
                for s, sub in enumerate(subs):
                    yield f"{name}[{b}].subConfirmations[{s}]", sub, known["sub"]


def close_keys(key: str, known: tuple[str, ...]) -> list[str]:
    """Known keys that ``key`` is probably a typo of, best first."""
    same_but_case = [k for k in known if k.lower() == key.lower()]
    return same_but_case or difflib.get_close_matches(key, known, n=3, cutoff=CUTOFF)


def check_request_keys(body: Any) -> tuple[str, ...]:
    """Raise INVALID_REQUEST for a key that is a near miss of a known one; return a warning for
    each other unknown key (which is ignored)."""
    if not isinstance(body, Mapping):
        return ()
    known = _known()
    warnings = []
    for path, obj, keys in _objects(body, known):
        if not isinstance(obj, Mapping):
            continue
        for key in obj:
            if key in keys:
                continue
            field = f"{path}.{key}" if path else str(key)
            close = close_keys(str(key), keys)
            if close:
                where = f" in {path}" if path else ""
                raise CodedError(
                    "INVALID_REQUEST",
                    f"{field} is not a known field{where}; did you mean {' or '.join(close)}?",
                    {"field": field, "close_matches": close},
                )
            warnings.append(f"Ignored the unknown field {field!r}.")
    return tuple(warnings)
