"""The page forms: a sweep or walk-forward of one run ("optimise this run") and a schedule.
They check the shape of what was typed and build the batch request; the meaning (grid paths,
windows, limits, the strategy) is checked by the services, which the views call."""

from __future__ import annotations

import json
import zoneinfo

from django import forms

from batches.models import BatchMode
from batches.objective import NAMED_OBJECTIVES
from batches.sweep import SweepParameter, range_values
from marketdata.timeframes import TIMEFRAME_SECONDS

TEST_PERIODS = ("1mo", "2mo", "6mo", "1y", "2y", "5y", "max")
OBJECTIVE_LABELS = {
    "sharpe": "Sharpe ratio",
    "profit_factor": "Profit factor",
    "pvs": "PVS (probability-weighted score)",
    "net_return": "Net return",
    "sortino": "Sortino ratio",
    "cagr": "CAGR",
    "win_rate": "Win rate",
    "esi": "ESI",
    "expectancy_r": "Expectancy (R)",
}
COMMON_TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
)


def _period_label(context: dict) -> str:
    if context.get("testPeriod"):
        return f"as the run: last {context['testPeriod']}"
    start, end = str(context.get("startDate", ""))[:10], str(context.get("endDate", ""))[:10]
    return f"as the run: {start} to {end}" if start else "as the run"


class SweepForm(forms.Form):
    """A batch over one run's strategy: for each offered parameter a tick box and a range
    (from, to, step); more markets and timeframes; the objective and constraints; and for
    walk-forward the in-sample, out-of-sample and step spans."""

    name = forms.CharField(max_length=200, required=False)
    mode = forms.ChoiceField(
        choices=[(BatchMode.GRID, "Parameter sweep"), (BatchMode.WALK_FORWARD, "Walk-forward analysis")],
        initial=BatchMode.GRID,
        widget=forms.RadioSelect,
    )
    period = forms.ChoiceField(required=False, label="Test period")
    markets = forms.CharField(
        required=False,
        max_length=2000,
        label="Also run on markets",
        help_text="Comma-separated symbols, e.g. EURUSD, BTCUSD. The run's own market is included.",
    )
    timeframes = forms.MultipleChoiceField(
        required=False, choices=[(t, t) for t in TIMEFRAME_SECONDS], widget=forms.CheckboxSelectMultiple
    )
    objective = forms.ChoiceField(choices=[(k, OBJECTIVE_LABELS.get(k, k)) for k in NAMED_OBJECTIVES])
    min_trades = forms.IntegerField(required=False, min_value=0, label="At least this many trades")
    max_drawdown_pct = forms.FloatField(required=False, min_value=0, max_value=100, label="Max drawdown at most (%)")
    sample = forms.IntegerField(
        required=False, min_value=1, label="Run only a random sample of", help_text="combinations (seeded, repeatable)"
    )
    in_sample = forms.CharField(required=False, max_length=16, initial="6mo", label="In-sample span")
    out_of_sample = forms.CharField(required=False, max_length=16, initial="2mo", label="Out-of-sample span")
    wf_step = forms.CharField(required=False, max_length=16, label="Step", help_text="empty: the out-of-sample span")
    anchored = forms.BooleanField(required=False, label="Anchored (every in-sample span starts at the beginning)")

    def __init__(self, *args, run, parameters: list[SweepParameter], **kwargs):
        super().__init__(*args, **kwargs)
        self.run = run
        self.parameters = parameters
        context = run.request.get("marketContext") or {}
        self.fields["period"].choices = [("", _period_label(context))] + [(p, f"last {p}") for p in TEST_PERIODS]
        self.fields["timeframes"].initial = [run.timeframe]
        self.fields["objective"].initial = "sharpe"
        for n, param in enumerate(parameters):
            low, high, step = param.suggested_range()
            self.fields[f"p{n}_on"] = forms.BooleanField(required=False, label=param.label)
            number = forms.IntegerField if param.integer else forms.FloatField
            bounds = {"min_value": param.min, "max_value": param.max}
            for part, initial, limits in (
                ("from", low, bounds),
                ("to", high, bounds),
                ("step", step, {"min_value": 0}),
            ):
                self.fields[f"p{n}_{part}"] = number(
                    required=False,
                    initial=initial,
                    label=part,
                    widget=forms.NumberInput(attrs={"aria-label": f"{param.label}: {part}", "step": "any"}),
                    **limits,
                )

    def parameter_rows(self) -> list[dict]:
        """The offered parameters with their bound fields, for the template."""
        return [
            {
                "param": param,
                "on": self[f"p{n}_on"],
                "from": self[f"p{n}_from"],
                "to": self[f"p{n}_to"],
                "step": self[f"p{n}_step"],
            }
            for n, param in enumerate(self.parameters)
        ]

    def clean(self):
        data = super().clean()
        grid: dict[str, list] = {}
        for n, param in enumerate(self.parameters):
            if not data.get(f"p{n}_on"):
                continue
            start, stop, step = data.get(f"p{n}_from"), data.get(f"p{n}_to"), data.get(f"p{n}_step")
            if start is None or stop is None:
                self.add_error(f"p{n}_from", f"Give {param.label} a range: from and to.")
                continue
            try:
                grid[param.path] = range_values(start, stop, step, integer=param.integer)
            except ValueError as exc:
                self.add_error(f"p{n}_from", f"{param.label}: {exc}")
        markets = [m.strip().upper() for m in (data.get("markets") or "").replace(";", ",").split(",") if m.strip()]
        if markets and self.run.market not in markets:
            markets.insert(0, self.run.market)
        timeframes = data.get("timeframes") or [self.run.timeframe]
        data["grid"], data["market_list"] = grid, list(dict.fromkeys(markets))
        data["timeframe_list"] = timeframes if set(timeframes) != {self.run.timeframe} else []
        walk_forward = data.get("mode") == BatchMode.WALK_FORWARD
        if walk_forward:
            for field in ("in_sample", "out_of_sample"):
                if not data.get(field):
                    self.add_error(field, "A walk-forward analysis needs this span, e.g. 6mo or 2mo.")
        elif not grid and len(data["market_list"]) < 2 and len(data["timeframe_list"]) < 2:
            raise forms.ValidationError(
                "Tick at least one parameter to sweep, or add a market or a timeframe: "
                "a batch of one combination is just the run again."
            )
        return data

    def definition(self) -> dict:
        """The batch request (as POST /api/v1/batches takes it) of the cleaned form."""
        data = self.cleaned_data
        strategy = json.loads(json.dumps(self.run.request))
        if data.get("period"):
            context = {
                k: v for k, v in strategy["marketContext"].items() if k not in ("startDate", "endDate", "testPeriod")
            }
            strategy["marketContext"] = {**context, "testPeriod": data["period"]}
        definition: dict = {
            "name": data.get("name") or f"Sweep of {strategy.get('strategyName') or self.run.market}",
            "mode": data["mode"],
            "strategy": strategy,
            "grid": data["grid"],
            "objective": data["objective"],
        }
        saved = self.run.strategy if self.run.strategy_version else None
        if saved is not None and saved.kind == "v4":
            # A run of a saved strategy sweeps that strategy's version (recorded on the batch); the
            # run's own request, deep-merged over the version's body, keeps the grid paths the same.
            definition.update(strategy=saved.id, version=self.run.strategy_version, overrides=strategy)
        if data["market_list"]:
            definition["markets"] = data["market_list"]
        if data["timeframe_list"]:
            definition["timeframes"] = data["timeframe_list"]
        constraints = {k: data[k] for k in ("min_trades", "max_drawdown_pct") if data.get(k) is not None}
        if constraints:
            definition["constraints"] = constraints
        if data.get("sample"):
            definition["sample"] = {"n": data["sample"], "seed": 1}
        if data["mode"] == BatchMode.WALK_FORWARD:
            definition["walkForward"] = {
                "inSample": data["in_sample"],
                "outOfSample": data["out_of_sample"],
                "anchored": bool(data.get("anchored")),
            }
            if data.get("wf_step"):
                definition["walkForward"]["step"] = data["wf_step"]
        return definition


class ScheduleForm(forms.Form):
    """A schedule: its name, when it fires (a five-field cron in a time zone, or an interval)
    and the batch it creates (a batch request as JSON)."""

    name = forms.CharField(max_length=200)
    timing = forms.ChoiceField(
        choices=[("cron", "On a cron schedule"), ("interval", "Every so many seconds")],
        initial="cron",
        widget=forms.RadioSelect,
    )
    cron = forms.CharField(
        required=False,
        max_length=120,
        initial="0 6 * * 1-5",
        help_text="minute hour day-of-month month day-of-week, e.g. 0 6 * * 1-5 for weekdays at 06:00",
    )
    interval_seconds = forms.IntegerField(required=False, min_value=60, label="Interval (seconds)")
    timezone = forms.CharField(max_length=64, initial="UTC", help_text="An IANA name such as Europe/London")
    enabled = forms.BooleanField(required=False, initial=True, label="Active (fires on schedule)")
    definition = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16}), label="Batch definition (JSON)", max_length=200_000
    )

    def clean_timezone(self):
        value = self.cleaned_data["timezone"].strip()
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(
                f"The time zone “{value}” is not one this server knows; use an IANA name such as Europe/London."
            ) from None
        return value

    def clean_definition(self):
        raw = self.cleaned_data["definition"]
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"The batch definition is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The batch definition must be a JSON object, as POST /api/v1/batches takes.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("timing") == "interval":
            if not data.get("interval_seconds"):
                self.add_error("interval_seconds", "Give the interval in seconds (at least 60).")
            data["cron"] = ""
        else:
            data["interval_seconds"] = None
            if not (data.get("cron") or "").strip():
                self.add_error("cron", "Give a cron expression, e.g. 0 6 * * 1-5.")
            data["cron"] = " ".join((data.get("cron") or "").split())
        return data

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "definition": data["definition"],
            "cron": data["cron"],
            "interval_seconds": data["interval_seconds"],
            "timezone_name": data["timezone"],
            "enabled": bool(data.get("enabled")),
        }
