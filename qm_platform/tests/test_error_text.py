"""Errors as sentences for pages: field by field, never a Python repr."""

from __future__ import annotations

from rest_framework.exceptions import ErrorDetail

from qm_platform.error_text import error_lines
from qm_platform.errors import CodedError


def test_drf_field_errors_become_one_sentence_per_field():
    details = {
        "fields": {
            "decisionBlocks": {"non_field_errors": [ErrorDetail(string="This list may not be empty.", code="empty")]},
            "marketContext": {"timeframe": [ErrorDetail(string='"2x" is not a valid choice.', code="invalid_choice")]},
        }
    }
    lines = error_lines(CodedError("INVALID_REQUEST", "The request is invalid", details))
    assert lines == [
        "decisionBlocks: This list may not be empty.",
        'marketContext.timeframe: "2x" is not a valid choice.',
    ]
    assert not any("ErrorDetail" in line or "{" in line for line in lines)


def test_list_items_are_named_by_index_and_alternatives_are_offered():
    details = {"fields": {"decisionBlocks": [{}, {"subConfirmations": ["This field is required."]}]}}
    assert error_lines({"error": "x", "code": "INVALID_REQUEST", "details": details}) == [
        "decisionBlocks[1].subConfirmations: This field is required."
    ]
    typo = CodedError("INVALID_REQUEST", "timefame is unknown", {"field": "x", "close_matches": ["timeframe"]})
    assert error_lines(typo) == ["Did you mean timeframe?"]
    assert error_lines(CodedError("INVALID_REQUEST", "bad", {"field": "exit.stopLoss"})) == ["Field: exit.stopLoss."]
    assert error_lines(None) == []
