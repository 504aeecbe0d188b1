"""Browser pages of batches and schedules: the batch list, "optimise this run" (a sweep or a
walk-forward of one run's strategy), the live batch page with its results table, charts and
walk-forward windows, and the schedules (list, create, edit, pause, delete). Server-rendered
with the same services as the API; another user's batch or schedule is a 404."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backtests import selectors as run_selectors
from backtests.library import selectors as library_selectors
from backtests.models import RunStatus
from batches import selectors
from batches.forms import ScheduleForm, SweepForm
from batches.models import Batch, BatchMode, Schedule
from batches.objective import KEY_METRICS
from batches.services.lifecycle import batch_cancel, batch_create
from batches.services.report import METRIC_LABELS, batch_objective_label, batch_report_charts, swept_parameters
from batches.services.schedules import schedule_create, schedule_delete, schedule_update
from batches.sweep import sweep_parameters
from plans.selectors import plan_for_user
from qm_platform.errors import CodedError

BATCHES_PER_PAGE = 50
ROWS_PER_PAGE = 50
RECENT_RUNS_OFFERED = 20
# A batch's definition keys that the plan adds or that a template already applied: a schedule
# made from the batch sends the definition without them.
DERIVED_KEYS = ("objective_resolved", "template", "overrides")
WINDOW_STATES = {
    "in_sample": "running in sample",
    "out_of_sample": "running out of sample",
    "done": "done",
    "no_result": "no eligible combination",
}
SCHEDULE_FIELDS = {"name", "cron", "interval_seconds", "timezone", "definition"}


def sentence(text: str) -> str:
    """A message as a sentence: a capital first letter and a full stop."""
    text = (text or "").strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def short_name(path: str) -> str:
    """A grid path named by its last part: ``decisionBlocks[0]….config.period`` → ``period``."""
    return str(path).rsplit(".", 1)[-1]


def params_text(params: dict | None) -> str:
    """Parameters as ``period = 14, takeProfit = 2`` (each path by its last part)."""
    return ", ".join(f"{short_name(k)} = {v}" for k, v in (params or {}).items())


def error_sentence(exc: CodedError) -> str:
    """A service's error for a person: a combination named by its parameters, not a dict."""
    message = exc.message
    combination = (exc.details or {}).get("combination")
    if isinstance(combination, dict) and message.startswith("combination "):
        message = message.split(": ", 1)[-1]
        named = ", ".join(f"{short_name(k)} = {v}" for k, v in combination.items())
        message = f"with {named}: {message}"
    return sentence(message)


def _save(request, form, save, refused):
    """A page's POST: validate the form, then call the service. Returns (what ``save`` returned,
    200), or (None, the status of the problem): 400 for the form, the service's own status
    after passing its CodedError to ``refused``. A GET saves nothing: (None, 200)."""
    if request.method != "POST":
        return None, 200
    if not form.is_valid():
        return None, 400
    try:
        return save(), 200
    except CodedError as exc:
        refused(exc)
        return None, exc.status_code


def _own_batch(request, pk) -> Batch:
    batch = selectors.batch_get_for_user(user=request.user, batch_id=pk)
    if batch is None:
        raise Http404("No such batch")
    return batch


def _own_schedule(request, pk) -> Schedule:
    schedule = selectors.schedule_get_for_user(user=request.user, schedule_id=pk)
    if schedule is None:
        raise Http404("No such schedule")
    return schedule


# ---- batches ----------------------------------------------------------------------------------


@login_required
@require_GET
def batch_list_page(request):
    """The user's batches, newest first, 50 a page."""
    page = Paginator(selectors.batch_list_for_user(user=request.user), BATCHES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    batches = list(page)
    for batch in batches:
        batch.counts = selectors.batch_run_counts(batch=batch)
        batch.best = (batch.summary or {}).get("best")
    return render(request, "batches/list.html", {"page": page, "batches": batches})


def _estimate(run, user) -> dict:
    """What the page needs to estimate a batch's time before it is sent: this run's worker time
    and how many runs of the user's plan may run at once."""
    seconds = run.duration_seconds or 0.0
    return {"run_seconds": round(max(seconds, 0.1), 2), "parallel": max(plan_for_user(user=user).concurrent_runs, 1)}


@login_required
@require_http_methods(["GET", "POST"])
def batch_new_page(request):
    """Optimise a run: ``?run=<id>`` (one of the user's finished runs) gives the form of its
    sweepable parameters; without it, the user's recent runs to choose from. POST validates
    (the form, then the services: every grid path, window and limit) and answers 303 to the
    new batch's page, or the form again with the problem in words."""
    run_id = request.GET.get("run") or request.POST.get("run")
    if not run_id:
        recent = (
            run_selectors.backtest_list_for_user(user=request.user)
            .filter(status=RunStatus.SUCCEEDED, batch__isnull=True)
            .order_by("-created_at")[:RECENT_RUNS_OFFERED]
        )
        return render(request, "batches/choose_run.html", {"runs": recent})
    try:
        run = run_selectors.backtest_get_for_user(user=request.user, run_id=run_id)
    except Exception:  # not a UUID  # noqa: BLE001
        run = None
    if run is None:
        raise Http404("No such run")
    parameters = sweep_parameters(run.request)
    form = SweepForm(request.POST or None, run=run, parameters=parameters)
    problems: list[str] = []
    batch, status = _save(
        request,
        form,
        lambda: batch_create(user=request.user, definition=form.definition()),
        lambda exc: problems.append(error_sentence(exc)),
    )
    if batch is not None:
        return HttpResponseRedirect(reverse("batch-page", kwargs={"pk": batch.id}), status=303)
    problem = problems[0] if problems else None
    return render(
        request,
        "batches/new.html",
        {"run": run, "form": form, "rows": form.parameter_rows(), "problem": problem, **_estimate(run, request.user)},
        status=status,
    )


def metric_names(rows: list[dict]) -> list[str]:
    """Every numeric metric the rows' runs report, sorted: the table sorts by any of them."""
    names = {k for r in rows for k, v in (r["metrics"] or {}).items() if isinstance(v, (int, float))}
    return sorted(names)


def _sort(request, rows: list[dict], param_names: list[str]) -> tuple[str, str]:
    allowed = {"score", *KEY_METRICS, *param_names, *metric_names(rows)}
    sort = request.GET.get("sort", "score")
    order = request.GET.get("order", "desc")
    return (sort if sort in allowed else "score"), (order if order in ("asc", "desc") else "desc")


def _table(request, batch: Batch, rows: list[dict], param_names: list[str], query: dict, best_id=None) -> dict:
    """The results table: sorted by ``?sort=`` (score, a swept parameter or a key metric) in
    ``?order=``, 50 rows a page; each row links to its run."""
    sort, order = _sort(request, rows, param_names)
    ordered = selectors.sort_rows(rows, sort, descending=order == "desc")
    page = Paginator(ordered, ROWS_PER_PAGE).get_page(request.GET.get("page"))
    best_id = best_id or ((batch.summary or {}).get("best") or {}).get("run_id")
    columns = [{"key": p, "label": short_name(p), "title": p, "numeric": False} for p in param_names]
    objective = batch_objective_label(batch)  # "Score (sharpe)": told apart from the Sharpe column beside it
    columns.append({"key": "score", "label": f"Score ({objective})", "title": "the objective", "numeric": True})
    columns += [{"key": k, "label": METRIC_LABELS.get(k, k), "title": k, "numeric": True} for k in KEY_METRICS]
    for column in columns:
        flip = "asc" if column["key"] == sort and order == "desc" else "desc"
        column["href"] = "?" + urlencode({**query, "sort": column["key"], "order": flip})
        column["sorted"] = order if column["key"] == sort else ""
    extra = sort if sort not in {c["key"] for c in columns} else None
    if extra:  # sorted by a metric the table does not show: show it after the key metrics
        columns.append({"key": extra, "label": extra, "title": extra, "numeric": True, "sorted": order})
        columns[-1]["href"] = "?" + urlencode({**query, "sort": extra, "order": "asc" if order == "desc" else "desc"})
    return {
        "columns": columns,
        "metric_names": metric_names(rows),
        "query_items": list(query.items()),
        "sort": sort,
        "sort_label": batch_objective_label(batch) if sort == "score" else short_name(sort),
        "order": order,
        "page": page,
        "page_query": urlencode({**query, "sort": sort, "order": order}),
        "rows": [
            dict(
                row,
                param_values=[row["params"].get(p) for p in param_names],
                metric_values=[(k, row["metrics"].get(k)) for k in KEY_METRICS + ((extra,) if extra else ())],
                best=row["run_id"] == best_id,
            )
            for row in page
        ],
    }


@login_required
@require_GET
def batch_page(request, pk):
    """A batch, live while it runs: progress, counts and ETA (the page polls the API), the
    results table, the best run with its DSR, the report's charts. Walk-forward: the windows
    as a timeline and a table; ``?window=n`` shows window n's in-sample grid and its
    out-of-sample run."""
    batch = _own_batch(request, pk)
    counts = selectors.batch_run_counts(batch=batch)
    rows = selectors.batch_scored_rows(batch=batch)
    param_names = swept_parameters(batch) or list((rows[0]["params"] if rows else {}).keys())
    context: dict = {
        "batch": batch,
        "counts": counts,
        "progress": selectors.batch_progress(batch=batch, counts=counts),
        "summary": batch.summary or {},
        "objective_label": batch_objective_label(batch),
        "created_runs": sum(n for s, n in counts.items() if s != "cached"),
        "best_params": params_text(((batch.summary or {}).get("best") or {}).get("params")),
    }
    query: dict = {}
    if batch.mode == BatchMode.WALK_FORWARD:
        windows = batch.windows or []
        wf = (batch.summary or {}).get("walk_forward") or {}
        context["windows"] = [
            dict(
                w,
                number=w["index"] + 1,
                result=_window_result(wf, w["index"]),
                params_text=params_text((w.get("best") or {}).get("params")),
                state_label=WINDOW_STATES.get(w.get("state", ""), w.get("state", "")),
            )
            for w in windows
        ]
        context["wf"] = wf
        raw_window = request.GET.get("window")
        if raw_window is not None:
            if not raw_window.isdigit() or int(raw_window) >= len(windows):
                raise Http404("No such window")
            index = int(raw_window)
            window = context["windows"][index]
            context["window"] = window
            query["window"] = index
            rows = [r for r in rows if r["window"] == index]
            context["oos_row"] = next((r for r in rows if r["phase"] == "out_of_sample"), None)
            rows = [r for r in rows if r["phase"] == "in_sample"]
        elif wf:
            context.update(batch_report_charts(batch=batch, rows=rows))
        if "window" not in context:
            rows = []  # the windows table stands for the runs; each window lists its own
    else:
        context.update(batch_report_charts(batch=batch, rows=rows, x=request.GET.get("x"), y=request.GET.get("y")))
        if not any(r["score"] is not None for r in rows):
            for chart in ("distribution_svg", "heatmap_svg", "heatmap_axes"):  # nothing scored yet: no empty chart
                context.pop(chart, None)
        if context.get("heatmap_axes"):
            query.update(x=context["heatmap_axes"][0], y=context["heatmap_axes"][1])
            context["heatmap_choices"] = [{"path": p, "label": short_name(p)} for p in swept_parameters(batch)]
    chosen = ((context.get("window") or {}).get("best") or {}).get("run_id")  # a window's pick
    context["table"] = _table(request, batch, rows, param_names, query, best_id=chosen) if rows else None
    return render(request, "batches/detail.html", context)


def _window_result(wf: dict, index: int) -> dict:
    for window in wf.get("windows") or []:
        if window.get("index") == index:
            return window
    return {}


@login_required
@require_POST
def batch_cancel_page(request, pk):
    """Cancel a running batch (its queued and running runs too), then back to its page."""
    batch = _own_batch(request, pk)
    with contextlib.suppress(CodedError):  # already final: the page says so
        batch_cancel(batch=batch)
    return HttpResponseRedirect(reverse("batch-page", kwargs={"pk": batch.id}), status=303)


# ---- schedules --------------------------------------------------------------------------------


@login_required
@require_GET
def schedule_list_page(request):
    """The user's schedules with their timing, state, last firing and latest batch (and its drift)."""
    return _schedule_list(request)


def _schedule_list(request, problem: str = "", status: int = 200):
    schedules = list(selectors.schedule_list_for_user(user=request.user))
    for schedule in schedules:
        schedule.latest = next(iter(selectors.schedule_batches(schedule=schedule, limit=1)), None)
    return render(request, "batches/schedules.html", {"schedules": schedules, "problem": problem}, status=status)


def _definition_from_batch(batch: Batch) -> dict:
    definition = {k: v for k, v in batch.definition.items() if k not in DERIVED_KEYS}
    definition["name"] = batch.name or definition.get("name", "")
    return definition


def _apply_service_error(form: ScheduleForm, exc: CodedError) -> None:
    """Put a service's refusal on the field it names (cron, timezone, …), else on the definition
    (a grid path, a strategy) or the form."""
    field = (exc.details or {}).get("field")
    if field == "timezone_name":
        field = "timezone"
    if field in SCHEDULE_FIELDS:
        form.add_error(field, error_sentence(exc))
    elif exc.code in ("PLAN_LIMIT", "QUOTA_EXCEEDED"):
        form.add_error(None, error_sentence(exc))
    else:
        form.add_error("definition", error_sentence(exc))


@login_required
@require_http_methods(["GET", "POST"])
def schedule_new_page(request):
    """A new schedule; ``?batch=<id>`` fills it with that batch's definition and name,
    ``?strategy=<id>`` with the latest version of a saved strategy (a schedule that follows it)."""
    initial: dict = {}
    batch_id = request.GET.get("batch")
    strategy_id = request.GET.get("strategy")
    if strategy_id:
        strategy = library_selectors.strategy_get_for_user(user=request.user, strategy_id=strategy_id)
        if strategy is None:
            raise Http404("No such strategy")
        definition = {"name": strategy.name, "strategy": strategy.id, "version": "latest"}
        initial = {"name": f"{strategy.name} (latest version)", "definition": json.dumps(definition, indent=2)}
    if batch_id:
        try:
            batch = selectors.batch_get_for_user(user=request.user, batch_id=batch_id)
        except Exception:  # not a UUID  # noqa: BLE001
            batch = None
        if batch is None:
            raise Http404("No such batch")
        definition = _definition_from_batch(batch)
        initial = {"name": definition.get("name") or "", "definition": json.dumps(definition, indent=2)}
    form = ScheduleForm(request.POST or None, initial=initial)
    schedule, status = _save(
        request,
        form,
        lambda: schedule_create(user=request.user, **form.service_arguments()),
        lambda exc: _apply_service_error(form, exc),
    )
    if schedule is not None:
        return HttpResponseRedirect(reverse("schedule-page", kwargs={"pk": schedule.id}), status=303)
    return render(
        request,
        "batches/schedule_form.html",
        {"form": form, "schedule": None, "fixed_dates": _has_fixed_dates(form), "batches": []},
        status=status,
    )


def _has_fixed_dates(form: ScheduleForm) -> bool:
    """Whether the definition runs fixed dates (every firing then answers from the cache)."""
    raw = form["definition"].value() or ""
    try:
        strategy = (json.loads(raw) or {}).get("strategy") or {}
        return "startDate" in (strategy.get("marketContext") or {})
    except (ValueError, AttributeError):
        return False


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit_page(request, pk):
    """A schedule: edit it, and its last batches with their drift against the one before."""
    schedule = _own_schedule(request, pk)
    initial = {
        "name": schedule.name,
        "timing": "cron" if schedule.cron else "interval",
        "cron": schedule.cron,
        "interval_seconds": schedule.interval_seconds,
        "timezone": schedule.timezone,
        "enabled": schedule.enabled,
        "definition": json.dumps(schedule.definition, indent=2),
    }
    form = ScheduleForm(request.POST or None, initial=initial)

    def refused(exc: CodedError) -> None:
        _apply_service_error(form, exc)
        schedule.refresh_from_db()  # the page shows the schedule as it is saved

    saved, status = _save(
        request, form, lambda: schedule_update(schedule=schedule, **form.service_arguments()), refused
    )
    if saved is not None:
        return HttpResponseRedirect(reverse("schedule-page", kwargs={"pk": schedule.id}), status=303)
    return render(
        request,
        "batches/schedule_form.html",
        {
            "form": form,
            "schedule": schedule,
            "fixed_dates": _has_fixed_dates(form),
            "batches": list(selectors.schedule_batches(schedule=schedule, limit=10)),
        },
        status=status,
    )


def _back(request, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return HttpResponseRedirect(target or default, status=303)


@login_required
@require_POST
def schedule_pause_page(request, pk):
    """Pause an active schedule or resume a paused one (its celery-beat task follows)."""
    schedule = _own_schedule(request, pk)
    try:
        schedule_update(schedule=schedule, enabled=not schedule.enabled)
    except CodedError as exc:  # resuming beyond what the plan allows now
        return _schedule_list(request, problem=error_sentence(exc), status=exc.status_code)
    return _back(request, reverse("schedules-page"))


@login_required
@require_POST
def schedule_delete_page(request, pk):
    """Delete a schedule and its celery-beat task; its batches stay."""
    schedule_delete(schedule=_own_schedule(request, pk))
    return HttpResponseRedirect(reverse("schedules-page"), status=303)
