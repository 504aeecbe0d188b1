"""Browser pages: the seed's /run-backtest-v4 form endpoint, the live run page, the runs list."""
from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from backtests import selectors, services
from backtests.api.serializers import BacktestRequestSerializer
from backtests.api.views import EXAMPLE_V4
from qm_platform.errors import ApplicationError
from reports.render import render_report_html


def _parse_body(request) -> dict:
    if request.content_type == "application/json":
        raw = request.body.decode("utf-8", "replace")
    else:
        raw = request.POST.get("payload", "")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApplicationError("INVALID_JSON", f"the strategy is not valid JSON: {exc}") from None
    return body


@login_required
@require_http_methods(["GET", "POST"])
def run_backtest_v4(request):
    """GET: the submit form. POST (JSON or form field ``payload``): enqueue, then 303 to the run page."""
    payload = json.dumps(EXAMPLE_V4, indent=2)
    if request.method == "POST":
        try:
            body = _parse_body(request)
            serializer = BacktestRequestSerializer(data=body)
            if not serializer.is_valid():
                raise ApplicationError("INVALID_REQUEST", "The request is invalid.",
                                       details={"fields": serializer.errors})
            run = services.backtest_submit(user=request.user, body=serializer.body())
        except ApplicationError as exc:
            status = exc.status_code
            payload = request.POST.get("payload", payload) if request.content_type != "application/json" \
                else request.body.decode("utf-8", "replace")
            return render(request, "backtests/new.html",
                          {"payload": payload, "error": exc}, status=status)
        return HttpResponseRedirect(reverse("run-page", kwargs={"pk": run.id}), status=303)
    return render(request, "backtests/new.html", {"payload": payload})


@login_required
def run_page(request, pk):
    run = selectors.backtest_get_for_user(user=request.user, run_id=pk)
    if run is None:
        raise Http404("No such run")
    report_html = render_report_html(run, for_pdf=False, request=request) if run.status == "SUCCEEDED" else ""
    return render(request, "backtests/run.html", {"run": run, "report_html": report_html,
                                                   "has_pdf": run.artifacts.filter(kind="report_pdf").exists()})


@login_required
def runs_page(request):
    runs = selectors.backtest_list_for_user(user=request.user)[:100]
    return render(request, "backtests/runs.html", {"runs": runs})
