"""Trading sessions and kill zones as entry filters (``marketContext.session``).

Sessions are windows in New York time, daylight saving handled by the ``kill_zones`` module
(zoneinfo ``America/New_York``): a bar may open a trade only when it opens inside the window;
a trade may close outside it.

=============  ====================  ==========================================
value          New York time         meaning
=============  ====================  ==========================================
Asia           19:00 – 04:00         Tokyo / Sydney session
London         03:00 – 12:00         London session
New York       08:00 – 17:00         New York session
london_open    02:00 – 05:00         ICT London open kill zone
ny_open        07:00 – 10:00         ICT New York open kill zone
london_close   10:00 – 12:00         ICT London close kill zone
asia_kill_zone 20:00 – 00:00         ICT Asian kill zone
any_kill_zone  any of the four       any ICT kill zone
silver_bullet  10:00 – 11:00         ICT Silver Bullet (New York AM)
=============  ====================  ==========================================
"""

from __future__ import annotations

from qm_platform.errors import CodedError

SESSIONS: dict[str, dict] = {
    "asia": {"zone": "custom", "custom_start": 19, "custom_end": 4},
    "london": {"zone": "custom", "custom_start": 3, "custom_end": 12},
    "new_york": {"zone": "custom", "custom_start": 8, "custom_end": 17},
    "london_open": {"zone": "london_open"},
    "ny_open": {"zone": "ny_open"},
    "london_close": {"zone": "london_close"},
    "asia_kill_zone": {"zone": "asia"},
    "any_kill_zone": {"zone": "any"},
    "silver_bullet": {"zone": "custom", "custom_start": 10, "custom_end": 11},
}
NO_FILTER = {"", "all", "any", "none", "24h"}


def _key(value: str) -> str:
    return value.strip().lower().replace("-", "_").replace(" ", "_")


def session_block(session) -> dict | None:
    """The decision block that restricts entries to ``session``; None for no filter."""
    if session is None or (isinstance(session, str) and _key(session) in NO_FILTER):
        return None
    key = _key(session) if isinstance(session, str) else None
    key = {"newyork": "new_york", "ny": "new_york", "tokyo": "asia"}.get(key, key)
    if key not in SESSIONS:
        raise CodedError(
            "INVALID_REQUEST",
            f"unknown session {session!r}; expected one of "
            f"Asia, London, New York, {', '.join(k for k in SESSIONS if k not in ('asia', 'london', 'new_york'))}",
            details={"field": "marketContext.session", "sessions": ["Asia", "London", "New York", *list(SESSIONS)[3:]]},
        )
    return {
        "label": f"Session: {session}",
        "subConfirmations": [
            {
                "label": f"In {session}",
                "moduleId": "kill_zones",
                "selected": True,
                "config": {**SESSIONS[key], "operator": "==", "value": True},
            }
        ],
    }
