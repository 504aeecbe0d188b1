"""Browser pages: the new-backtest builder (/run-backtest-v4), the live run page with the
results, the runs list with filters and the compare view. Server-rendered; the builder and the
progress bar use a little plain JavaScript against the public API."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from accounts.services import audit_record
from backtests import selectors, services
from backtests.api.views import EXAMPLE_V4, EXAMPLE_V5
from backtests.engine.conditions import OPERATORS
from backtests.library import selectors as library_selectors
from backtests.models import Artifact, RunStatus
from backtests.strategies.ict_form import (
    ENTRY_CHOICES,
    HTF_FORM_CHOICES,
    SESSION_CHOICES,
    ict_body_from_form,
    ict_form_values,
)
from marketdata.providers.synthetic import BASE_PRICES
from marketdata.timeframes import TIMEFRAME_SECONDS
from qm_platform.error_text import error_lines
from qm_platform.errors import CodedError
from qm_platform.parsers import loads_bounded
from reports import analysis, charts, kpis
from reports.render import STAGE_LABELS, render_report_html

TEST_PERIODS = ["1mo", "2mo", "6mo", "1y", "2y", "5y", "max"]
COMPARE_MIN, COMPARE_MAX = 2, 4
RUNS_PER_PAGE = 50
# What an error code means, in plain words; the page shows it with the code and the details.
ERROR_HELP = {
    "INSUFFICIENT_DATA": "There was not enough market data in the chosen period to run the test. "
    "Pick a longer period, or one when the market was open.",
    "DATA_UNAVAILABLE": "The market data could not be loaded, and no stored copy was available.",
    "DATA_RANGE_UNAVAILABLE": "The data source does not offer this timeframe that far back. Shorten the "
    "period, use a larger timeframe, or upload a CSV dataset.",
    "DATA_SOURCE_UNAVAILABLE": "That data source cannot be reached from this server.",
    "DATASET_NOT_FOUND": "The dataset named in the request does not exist.",
    "TIMEOUT": "The backtest took longer than the time limit and was stopped. Try a shorter period or a "
    "larger timeframe.",
    "ENGINE_ERROR": "The backtest engine hit an unexpected error. The details below help us fix it.",
    "WORKER_LOST": "The worker running this backtest stopped unexpectedly and the run could not be finished.",
    "CANCELLED": "This run was cancelled before it finished.",
    "INVALID_REQUEST": "The request is not valid; the details say which field.",
    "INVALID_CONFIG": "A module setting is out of range or of the wrong type.",
    "INVALID_CONDITION": "A condition compares things that cannot be compared, or lacks a value.",
    "MODULE_NOT_FOUND": "The strategy names a module that does not exist.",
    "INVALID_JSON": "The strategy text is not valid JSON.",
}


def error_help(code: str) -> str:
    return ERROR_HELP.get(code, "The backtest could not be completed.")


def _parse_body(request) -> dict:
    if request.content_type == "application/json":
        raw = request.body.decode("utf-8", "replace")
    else:
        raw = request.POST.get("payload", "")
    try:
        body = loads_bounded(raw)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity or nested too deeply
        raise CodedError("INVALID_JSON", f"the strategy is not valid JSON: {exc}") from None
    return body


def _raw_payload(request) -> str:
    """What the user sent, to show again next to an error."""
    if request.content_type == "application/json":
        return request.body.decode("utf-8", "replace")
    return request.POST.get("payload", "")


def _as_saved_version(request, body):
    """A body that is exactly the latest version of the saved strategy the page loaded
    (``strategy_ref``) runs as that strategy and version, so the run is listed in its history."""
    saved = library_selectors.strategy_get_for_user(user=request.user, strategy_id=request.POST.get("strategy_ref", ""))
    if saved is not None and body == saved.definition:
        return {"strategy": saved.id, "version": saved.latest_version}
    return body


def _submit(request, *, kind: str | None = None):
    """Parse, expand (templates, V5, sessions), validate and submit a page's POST; raises
    CodedError for anything invalid. ``kind`` is implied when the body names none. A body that is
    exactly the latest version of the saved strategy the page loaded (``strategy_ref``) runs as
    that strategy and version, so the run is listed in the strategy's history."""
    body = _parse_body(request)
    if kind and isinstance(body, dict):
        body.setdefault("kind", kind)
    body = _as_saved_version(request, body)
    run = services.backtest_submit(user=request.user, body=body)
    audit_record(user=request.user, action="backtest.submit", target=f"run:{run.id}", request=request)
    return run


def _error_context(error: CodedError | None) -> dict:
    """What ``_error.html`` shows: the error, its code in plain words and its details as sentences."""
    if error is None:
        return {"error": None}
    return {"error": error, "error_help": error_help(error.code), "error_lines": error_lines(error)}


def _builder_context(request, payload: str, error: CodedError | None = None, loaded=None) -> dict:
    from backtests.models import StrategyTemplate

    templates = list(StrategyTemplate.objects.only("id", "name", "kind", "body"))
    if loaded is None:
        loaded = library_selectors.strategy_get_for_user(
            user=request.user, strategy_id=request.POST.get("strategy_ref", "")
        )
    return {
        "saved_strategies": library_selectors.strategy_list_for_user(user=request.user).filter(kind="v4")[:500],
        "loaded": loaded,
        "payload": payload,
        **_error_context(error),
        "templates": [t for t in templates if t.kind == "v4"],
        "ict_templates": [t for t in templates if t.kind == "ict"],
        "template_bodies": {t.id: {**t.body, "strategyName": t.name} for t in templates if t.kind == "v4"},
        "markets": sorted(BASE_PRICES),
        "timeframes": list(TIMEFRAME_SECONDS),
        "periods": TEST_PERIODS,
        "operators": list(OPERATORS),
    }


@login_required
@require_http_methods(["GET", "POST"])
def run_backtest_v4(request):
    """GET: the builder. POST (JSON or form field ``payload``): enqueue, then 303 to the run page."""
    if request.method == "POST":
        try:
            run = _submit(request)
        except CodedError as exc:
            return render(
                request,
                "backtests/new.html",
                _builder_context(request, _raw_payload(request), exc),
                status=exc.status_code,
            )
        return HttpResponseRedirect(reverse("run-page", kwargs={"pk": run.id}), status=303)
    loaded = library_selectors.strategy_get_for_user(user=request.user, strategy_id=request.GET.get("strategy", ""))
    payload = loaded.definition if loaded is not None else EXAMPLE_V4
    return render(
        request, "backtests/new.html", _builder_context(request, json.dumps(payload, indent=2), loaded=loaded)
    )


def _v5_context(request, body: dict, payload: str, error: CodedError | None = None, loaded=None) -> dict:
    from backtests.models import StrategyTemplate

    if loaded is None:
        loaded = library_selectors.strategy_get_for_user(
            user=request.user, strategy_id=request.POST.get("strategy_ref", "")
        )
    return {
        "saved_strategies": library_selectors.strategy_list_for_user(user=request.user).filter(kind="ict")[:500],
        "loaded": loaded,
        "form": ict_form_values(body if isinstance(body, dict) else {}),
        "payload": payload,
        **_error_context(error),
        "markets": sorted(BASE_PRICES),
        "timeframes": list(TIMEFRAME_SECONDS),
        "directions": ["Long", "Short"],
        "periods": TEST_PERIODS,
        "sessions": SESSION_CHOICES,
        "entry_models": ENTRY_CHOICES,
        "htf_choices": HTF_FORM_CHOICES,
        "ict_templates": list(StrategyTemplate.objects.filter(kind="ict").only("id", "name")),
    }


def _v5_posted_body(request) -> dict:
    """The V5 body a POST means: its JSON (a JSON request, or the JSON panel once edited) or
    the form's fields."""
    if (
        request.content_type == "application/json"
        or request.POST.get("source") == "json"
        or ("payload" in request.POST and "market" not in request.POST)
    ):
        body = _parse_body(request)
        if isinstance(body, dict):
            body.setdefault("kind", "ict")
        return body
    return ict_body_from_form(request.POST)


@login_required
@require_http_methods(["GET", "POST"])
def run_backtest_v5(request):
    """The ICT (V5) builder. GET: the form, filled from the example or ``?template=``. POST (the
    form's fields, its JSON, or a JSON body; ``"kind": "ict"`` implied): enqueue, then 303 to
    the run page."""
    if request.method == "POST":
        body: Any = {}
        try:
            body = _v5_posted_body(request)
            run = services.backtest_submit(user=request.user, body=_as_saved_version(request, body))
        except CodedError as exc:
            shown = body if isinstance(body, dict) and body else {}
            payload = json.dumps(shown, indent=2) if shown else _raw_payload(request)
            context = _v5_context(request, shown, payload, exc)
            return render(request, "backtests/new_v5.html", context, status=exc.status_code)
        audit_record(user=request.user, action="backtest.submit", target=f"run:{run.id}", request=request)
        return HttpResponseRedirect(reverse("run-page", kwargs={"pk": run.id}), status=303)
    from backtests.models import StrategyTemplate

    example = EXAMPLE_V5
    chosen = StrategyTemplate.objects.filter(id=request.GET.get("template", ""), kind="ict").first()
    loaded = library_selectors.strategy_get_for_user(user=request.user, strategy_id=request.GET.get("strategy", ""))
    if chosen is not None:
        example = {**chosen.body, "strategyName": chosen.name}  # the run is titled by its template
    elif loaded is not None:
        example = loaded.definition
    context = _v5_context(request, example, json.dumps(example, indent=2), loaded=loaded)
    return render(request, "backtests/new_v5.html", context)


@login_required
@require_GET
def run_page(request, pk):
    run = selectors.backtest_get_for_user(user=request.user, run_id=pk)
    if run is None:
        raise Http404("No such run")
    succeeded = run.status == RunStatus.SUCCEEDED
    report_html = ""
    if succeeded:  # from the stored results: a page view never loads market data
        inputs = selectors.report_inputs_for_run(run=run)
        report_html = render_report_html(run, for_pdf=False, request=request, inputs=inputs)
    return render(
        request,
        "backtests/run.html",
        {
            "run": run,
            "report_html": report_html,
            "has_pdf": succeeded and Artifact.objects.filter(run_id=run.id, kind=Artifact.Kind.REPORT_PDF).exists(),
            "stage_label": STAGE_LABELS.get(run.stage, run.stage),
            "stage_labels": STAGE_LABELS,
            "error_help": error_help(run.error_code) if run.error_code else "",
        },
    )


def _param_text(batch_params: dict | None) -> str:
    """A batch run's parameters, each named by the last part of its path: ``period=14, takeProfit=2``."""
    info = batch_params or {}
    text = ", ".join(f"{name.rsplit('.', 1)[-1]}={value}" for name, value in (info.get("params") or {}).items())
    if info.get("window") is not None:
        phase = "in sample" if info.get("phase") == "in_sample" else "out of sample"
        text = f"window {info['window'] + 1} {phase}" + (f": {text}" if text else "")
    return text


@login_required
@require_GET
def runs_page(request):
    """The user's runs, 50 a page. A batch's runs are one row (its name, runs by status, links to
    the batch page and to its runs); ``?batch=<id>`` lists that batch's runs with their
    parameters, so a sweep of hundreds never buries the user's own runs."""
    filters = {key: request.GET.get(key, "").strip() for key in ("status", "market", "strategy", "batch")}
    runs = selectors.backtest_list_filtered(
        user=request.user, status=filters["status"], market=filters["market"], strategy=filters["strategy"]
    )
    batch = None
    if filters["batch"]:
        try:
            batch_id = uuid.UUID(filters["batch"])
        except ValueError:
            raise Http404("No such batch") from None
        mine = selectors.backtest_list_for_user(user=request.user)
        batch = selectors.backtest_batch_groups(runs=mine, batch_ids=[batch_id]).get(batch_id)
        page = Paginator(runs.filter(batch_id=batch_id), RUNS_PER_PAGE).get_page(request.GET.get("page"))
        entries = [{"run": run, "params": _param_text(run.batch_params)} for run in page]
    else:
        page = Paginator(selectors.backtest_list_grouped(runs=runs), RUNS_PER_PAGE).get_page(request.GET.get("page"))
        solo = runs.in_bulk([e["key"] for e in page if not e["batch_runs"]])
        groups = selectors.backtest_batch_groups(runs=runs, batch_ids=[e["key"] for e in page if e["batch_runs"]])
        entries = [
            {"batch": groups[e["key"]], "runs": e["runs"], "latest": e["latest"]}
            if e["batch_runs"]
            else {"run": solo[e["key"]]}
            for e in page
            if e["key"] in groups or e["key"] in solo
        ]
    markets = (
        selectors.backtest_list_for_user(user=request.user)
        .order_by("market")
        .values_list("market", flat=True)
        .distinct()
    )
    query = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "backtests/runs.html",
        {
            "entries": entries,
            "page": page,
            "batch": batch,
            "filters": filters,
            "filtered": any(filters[k] for k in ("status", "market", "strategy")),
            "query": urlencode(query),
            "statuses": list(RunStatus.values),
            "markets": list(markets),
            "compare_min": COMPARE_MIN,
            "compare_max": COMPARE_MAX,
        },
    )


@login_required
@require_GET
def compare_page(request):
    """2–4 of the user's runs side by side: KPIs and overlaid equity curves (percent return)."""
    ids = [i for raw in request.GET.getlist("ids") for i in raw.split(",") if i.strip()]
    if not COMPARE_MIN <= len(set(ids)) <= COMPARE_MAX:
        return render(
            request,
            "backtests/compare.html",
            {"problem": f"Pick {COMPARE_MIN} to {COMPARE_MAX} runs to compare (you picked {len(set(ids))})."},
            status=400,
        )
    runs = []
    for run_id in dict.fromkeys(ids):
        try:
            run = selectors.backtest_get_for_user(user=request.user, run_id=run_id)
        except Exception:  # not a UUID
            run = None
        if run is None:
            raise Http404("No such run")
        runs.append(run)
    curves = []
    for n, run in enumerate(runs, start=1):
        equity = analysis.equity_series(run.equity_curve or [])
        if len(equity):
            base = (run.metrics or {}).get("initial_capital") or equity.iloc[0]
            curves.append((f"#{n} {run.market} {run.timeframe}", (equity / base - 1) * 100))
    summaries = [kpis.summary(r.metrics, r.trade_count) for r in runs]
    rows = []
    for i, kpi in enumerate(kpis.SUMMARY):
        cells = [summary[i] for summary in summaries]
        values = [(r.metrics or {}).get(kpi.key, r.trade_count if kpi.key == "trade_count" else None) for r in runs]
        numeric = [v for v in values if isinstance(v, (int, float))]
        best = None
        if kpi.higher_is_better is not None and len(numeric) > 1:
            best = (max if kpi.higher_is_better else min)(numeric)
        rows.append(
            {
                "label": kpi.label,
                "key": kpi.key,
                "cells": [{"text": c["text"], "best": best is not None and v == best} for c, v in zip(cells, values)],
            }
        )
    return render(
        request, "backtests/compare.html", {"runs": runs, "rows": rows, "chart": charts.compare_equity_chart(curves)}
    )
