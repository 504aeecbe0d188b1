"""One entry point: any accepted request body → the V4 body the engine runs.

Order: a ``template`` is applied first (its body deep-merged with the rest of the request),
then a V5 ICT configuration (``"kind": "ict"``) is compiled to decision blocks, then
``marketContext.session`` becomes an entry filter block. The result is idempotent: expanding
an expanded body changes nothing (generated blocks are marked and replaced).
"""

from __future__ import annotations

import copy
from typing import Any

from .sessions import session_block
from .templates import template_apply

GENERATED = "generated"


def apply_template(data: Any) -> Any:
    """The request with its ``template`` (if it names one) applied; other bodies unchanged."""
    if not isinstance(data, dict) or "template" not in data:
        return data
    body = copy.deepcopy(data)
    template_id = body.pop("template")
    return template_apply(template_id, body)


def expand_request(data: Any) -> Any:
    if not isinstance(data, dict):
        return data  # the serializer reports the shape error
    body = copy.deepcopy(apply_template(data))
    if body.get("kind") == "ict":
        from .v5 import compile_ict

        body = compile_ict(body)
    elif "kind" in body and body["kind"] not in ("v4", None):
        from qm_platform.errors import CodedError

        raise CodedError(
            "INVALID_REQUEST", f"kind must be 'v4' or 'ict', got {body['kind']!r}", details={"field": "kind"}
        )
    body.pop("kind", None)
    ctx = body.get("marketContext")
    if isinstance(ctx, dict):
        block = session_block(ctx.get("session"))
        sides = ["decisionBlocks"] + (["shortDecisionBlocks"] if ctx.get("direction") == "Both" else [])
        for side in sides:
            blocks = body.get(side)
            if not isinstance(blocks, list):
                continue
            kept = [b for b in blocks if not (isinstance(b, dict) and b.get(GENERATED) == "session")]
            if block is not None:
                kept.append({**block, GENERATED: "session"})
            body[side] = kept
    return body
