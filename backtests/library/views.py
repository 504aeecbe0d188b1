"""Browser pages of the strategy library: the list (filters, import, copy a template) and a
strategy's page (versions, runs, batches, schedules; run a version, open it in the builder,
optimise, schedule, export, delete). Server-rendered; writes go through the library's services.
Another user's strategy is a 404."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.services import audit_record
from backtests import services as run_services
from backtests.library import selectors, services
from backtests.library.checks import compile_status
from backtests.library.diff import body_patch, patch_summary
from backtests.models import RunStatus, StrategyTemplate
from qm_platform.errors import CodedError
from qm_platform.parsers import loads_bounded

MAX_FILE_BYTES = 2 * 1024 * 1024


def _strategy_or_404(request, pk):
    strategy = selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    if strategy is None:
        raise Http404("No such strategy")
    return strategy


def _list_context(request, problem: CodedError | None = None) -> dict:
    filters = {key: request.GET.get(key, "").strip()[:200] for key in ("name", "tag", "market")}
    strategies = selectors.strategy_list_for_user(user=request.user, **filters)
    return {
        "strategies": strategies[:200],
        "filters": filters,
        "filtered": any(filters.values()),
        "templates": StrategyTemplate.objects.only("id", "name", "kind"),
        "problem": problem,
    }


@login_required
@require_GET
def strategies_page(request):
    """The user's strategies with their latest version and runs, filtered by name, tag, market."""
    return render(request, "backtests/strategies.html", _list_context(request))


@login_required
@require_POST
def strategy_from_template_page(request):
    """Copy a template into the library, then 303 to the new strategy's page."""
    try:
        strategy = services.strategy_copy_template(
            user=request.user,
            template_id=request.POST.get("template", ""),
            name=request.POST.get("name", "").strip() or None,
        )
    except CodedError as exc:
        return render(request, "backtests/strategies.html", _list_context(request, exc), status=exc.status_code)
    audit_record(user=request.user, action="strategy.create", target=f"strategy:{strategy.id}", request=request)
    return HttpResponseRedirect(reverse("strategy-page", kwargs={"pk": strategy.id}), status=303)


@login_required
@require_POST
def strategy_import_page(request):
    """Import an exported strategy file (every problem listed by path), then 303 to its page."""
    upload = request.FILES.get("file")
    try:
        if upload is None:
            raise CodedError("INVALID_IMPORT", "choose a strategy file (.json) to import", {"field": "file"})
        if upload.size > MAX_FILE_BYTES:
            raise CodedError("FILE_TOO_LARGE", "a strategy file is at most 2 MB", {"max_bytes": MAX_FILE_BYTES})
        try:
            document = loads_bounded(upload.read().decode("utf-8", "replace"))
        except ValueError as exc:
            raise CodedError("INVALID_JSON", f"the file is not valid JSON: {exc}", {"field": "file"}) from None
        strategy = services.strategy_import(
            user=request.user, document=document, name=request.POST.get("name", "").strip() or None
        )
    except CodedError as exc:
        return render(request, "backtests/strategies.html", _list_context(request, exc), status=exc.status_code)
    audit_record(user=request.user, action="strategy.import", target=f"strategy:{strategy.id}", request=request)
    return HttpResponseRedirect(reverse("strategy-page", kwargs={"pk": strategy.id}), status=303)


def _strategy_context(request, strategy, problem: CodedError | None = None) -> dict:
    versions = list(selectors.strategy_versions(strategy=strategy).order_by("-number"))
    runs = selectors.strategy_runs(strategy=strategy).filter(batch__isnull=True)
    latest_succeeded = selectors.strategy_runs(strategy=strategy).filter(status=RunStatus.SUCCEEDED).first()
    by_version = selectors.strategy_metrics_by_version(strategy=strategy)
    peak = max((abs(v["mean_sharpe"]) for v in by_version if v["mean_sharpe"] is not None), default=0) or 1
    for row in by_version:  # bar widths of the Sharpe-by-version chart, in percent of the largest
        row["bar"] = round(abs(row["mean_sharpe"] or 0) / peak * 100)
    return {
        "strategy": strategy,
        "compiles": compile_status(user=request.user, body=strategy.definition),
        "versions": versions,
        "runs": runs[:100],
        "run_total": runs.count(),
        "batches": selectors.strategy_batches(strategy=strategy)[:50],
        "schedules": selectors.strategy_schedules(strategy=strategy),
        "by_version": by_version,
        "optimise_run": latest_succeeded,
        "body_json": json.dumps(strategy.definition, indent=2),
        "problem": problem,
    }


@login_required
@require_GET
def strategy_page(request, pk):
    strategy = _strategy_or_404(request, pk)
    return render(request, "backtests/strategy.html", _strategy_context(request, strategy))


@login_required
@require_POST
def strategy_run_page(request, pk):
    """Run a version of the strategy (``version``; the latest by default), then 303 to the run."""
    strategy = _strategy_or_404(request, pk)
    version = request.POST.get("version") or "latest"
    try:
        run = run_services.backtest_submit(user=request.user, body={"strategy": strategy.id, "version": version})
    except CodedError as exc:
        context = _strategy_context(request, strategy, exc)
        return render(request, "backtests/strategy.html", context, status=exc.status_code)
    audit_record(user=request.user, action="backtest.submit", target=f"run:{run.id}", request=request)
    return HttpResponseRedirect(reverse("run-page", kwargs={"pk": run.id}), status=303)


@login_required
@require_POST
def strategy_delete_page(request, pk):
    """Delete the strategy (and its runs only if the box was ticked), then 303 to the list."""
    strategy = _strategy_or_404(request, pk)
    target = f"strategy:{strategy.id}"
    services.strategy_delete(strategy=strategy, delete_runs=request.POST.get("delete_runs") == "on")
    audit_record(user=request.user, action="strategy.delete", target=target, request=request)
    return HttpResponseRedirect(reverse("strategies-page"), status=303)


@login_required
@require_http_methods(["GET"])
def strategy_version_page(request, pk, number):
    """One version's body and what changed against the one before."""
    strategy = _strategy_or_404(request, pk)
    version = selectors.strategy_version_get(strategy=strategy, number=number)
    if version is None:
        raise Http404("No such version")
    previous = selectors.strategy_version_get(strategy=strategy, number=version.number - 1)
    patch = body_patch(previous.body, version.body) if previous else []
    return render(
        request,
        "backtests/strategy_version.html",
        {
            "strategy": strategy,
            "version": version,
            "previous": previous,
            "patch": json.dumps(patch, indent=2),
            "change": patch_summary(patch, old=previous.body) if previous else "first version",
            "body_json": json.dumps(version.body, indent=2),
        },
    )
