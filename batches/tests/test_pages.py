"""The batch and schedule pages (Django's test client): "optimise this run", the live batch
page with its results table, best run and charts, walk-forward windows, schedules (create from
a batch, edit, pause, delete), the runs list grouped by batch, owner-only access, CSRF and
problems shown as sentences. Runs are executed in-process, as in test_batches."""

import html
import re

import pytest
from django.test import Client, override_settings
from django_celery_beat.models import PeriodicTask

from backtests import services as run_services
from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from batches.models import Batch, BatchStatus, Schedule
from batches.services import lifecycle
from batches.sweep import range_values, sweep_parameters
from reports.tests.factories import stored_run

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quiet")]
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"
TP = "exit.takeProfit"
SHORT = dict(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-04-01T00:00:00Z")


@pytest.fixture
def quiet(monkeypatch):
    """No PDFs, and no chord: the tests run the runs themselves."""
    monkeypatch.setattr(lifecycle, "batch_dispatch", lambda **kw: True)
    with override_settings(QM_RENDER_PDF=False, QM_BATCH_RENDER_PDF=False):
        yield


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def create(user, **definition) -> Batch:
    definition.setdefault("strategy", v4_body(**SHORT))
    return lifecycle.batch_create(user=user, definition=definition)


def run_all(batch: Batch) -> Batch:
    """What the workers and the chord callback do: run every queued run, then advance."""
    for _ in range(3):  # walk-forward: in-sample, then out-of-sample
        for run_id in BacktestRun.objects.filter(batch=batch, status=RunStatus.QUEUED).values_list("id", flat=True):
            run_services.backtest_execute(run_id=run_id)
        if lifecycle.batch_advance(batch_id=batch.id) in (BatchStatus.SUCCEEDED, BatchStatus.FAILED):
            break
    batch.refresh_from_db()
    return batch


def text(response) -> str:
    """The page's visible words, tags dropped and white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


# ---- sweeps: the pure part ---------------------------------------------------------------------


def test_a_run_offers_each_module_parameter_threshold_and_exit_as_a_grid_path():
    params = {p.path: p for p in sweep_parameters(v4_body())}
    assert PERIOD in params and params[PERIOD].integer and params[PERIOD].min == 2
    assert "decisionBlocks[0].subConfirmations[0].config.value" in params and TP in params
    low, high, step = params[PERIOD].suggested_range()
    assert low < 14 < high and step >= 1 and isinstance(low, int)


def test_a_range_is_inclusive_rounded_and_bounded():
    assert range_values(0.5, 1.0, 0.1, integer=False) == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert range_values(10, 14, 2, integer=True) == [10, 12, 14]
    assert range_values(3, 3, None, integer=True) == [3]
    with pytest.raises(ValueError, match="before it starts"):
        range_values(5, 1, 1, integer=True)
    with pytest.raises(ValueError, match="at most 50"):
        range_values(1, 1000, 1, integer=True)


# ---- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/batches/", "/batches/new/", "/schedules/", "/schedules/new/"])
def test_the_pages_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_another_users_batch_schedule_and_run_are_404(alice, bob_client):
    run = stored_run(alice)
    batch = create(alice, grid={PERIOD: [7, 14]})
    schedule = Schedule.objects.create(owner=alice, name="alice's", definition={}, cron="0 6 * * 1-5")
    for path in (
        f"/batches/{batch.id}/",
        f"/batches/new/?run={run.id}",
        f"/schedules/{schedule.id}/",
        f"/schedules/new/?batch={batch.id}",
        "/batches/new/?run=not-a-uuid",
    ):
        assert bob_client.get(path).status_code == 404, path
    for path in (f"/batches/{batch.id}/cancel", f"/schedules/{schedule.id}/pause", f"/schedules/{schedule.id}/delete"):
        assert bob_client.post(path).status_code == 404, path
    assert Batch.objects.get(id=batch.id).status == BatchStatus.RUNNING and Schedule.objects.filter(id=schedule.id)
    assert "No runs match" in text(bob_client.get(f"/runs/?batch={batch.id}"))
    assert str(batch.id) not in bob_client.get("/batches/").content.decode()


def test_forms_need_the_csrf_token(alice):
    run = stored_run(alice)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(f"/batches/new/?run={run.id}", {"mode": "grid", "objective": "sharpe"})
    assert response.status_code == 403 and not Batch.objects.exists()


# ---- optimise this run -------------------------------------------------------------------------


def test_the_run_page_links_to_optimise_and_the_form_offers_its_parameters(alice_client, alice):
    run = stored_run(alice)
    assert f"/batches/new/?run={run.id}" in alice_client.get(f"/runs/{run.id}/").content.decode()
    response = alice_client.get(f"/batches/new/?run={run.id}")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-path="{PERIOD}"' in html and 'data-path="exit.takeProfit"' in html
    assert "RSI · RSI Period" in html and "Exit · take profit" in html
    assert 'id="combinations"' in html and "data-run-seconds=" in html
    chooser = alice_client.get("/batches/new/")
    assert f"/batches/new/?run={run.id}" in chooser.content.decode()


def sweep_form(run, **changes) -> dict:
    index = {p.path: n for n, p in enumerate(sweep_parameters(run.request))}
    n = index[PERIOD]
    data = {
        "run": str(run.id),
        "mode": "grid",
        "objective": "profit_factor",
        "timeframes": [run.timeframe],
        f"p{n}_on": "on",
        f"p{n}_from": "10",
        f"p{n}_to": "14",
        f"p{n}_step": "2",
        "min_trades": "1",
        "name": "Period sweep",
    }
    data.update(changes)
    return data


def test_the_sweep_form_creates_the_batch_and_answers_303_to_its_page(alice_client, alice):
    run = stored_run(alice)
    response = alice_client.post(f"/batches/new/?run={run.id}", sweep_form(run, markets="eurusd"))
    assert response.status_code == 303, text(response)
    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.id}/"
    assert batch.owner == alice and batch.name == "Period sweep"
    assert batch.definition["grid"] == {PERIOD: [10, 12, 14]}
    assert batch.definition["markets"] == [run.market, "EURUSD"] and "timeframes" not in batch.definition
    assert batch.definition["objective"] == "profit_factor" and batch.definition["constraints"] == {"min_trades": 1}
    assert batch.definition["strategy"]["marketContext"] == run.request["marketContext"]
    assert batch.runs.count() == 6


def test_sweep_form_problems_are_sentences_and_nothing_is_created(alice_client, alice):
    run = stored_run(alice)
    index = {p.path: n for n, p in enumerate(sweep_parameters(run.request))}
    nothing = sweep_form(run)
    del nothing[f"p{index[PERIOD]}_on"]
    response = alice_client.post(f"/batches/new/?run={run.id}", nothing)
    assert response.status_code == 400 and "Tick at least one parameter to sweep" in text(response)

    backwards = sweep_form(run, **{f"p{index[PERIOD]}_from": "20", f"p{index[PERIOD]}_to": "10"})
    response = alice_client.post(f"/batches/new/?run={run.id}", backwards)
    assert response.status_code == 400 and "RSI · RSI Period: The range ends (10) before it starts (20)." in text(
        response
    )

    # The services' refusal (a walk-forward longer than the data), in words, at the top.
    too_long = sweep_form(run, mode="walk_forward", in_sample="5y", out_of_sample="1y")
    response = alice_client.post(f"/batches/new/?run={run.id}", too_long)
    page = text(response)
    assert response.status_code == 400 and "The batch was not started." in page
    problem = re.search(r'id="problem"[^>]*>(.*?)</div>', response.content.decode(), re.S).group(1)
    sentence = " ".join(re.sub(r"<[^>]+>", " ", problem).split()).replace("The batch was not started. ", "")
    assert sentence[0].isupper() and sentence.endswith(".") and "{" not in sentence, sentence
    assert not Batch.objects.exists()


# ---- the batch page ----------------------------------------------------------------------------


def test_the_batch_page_shows_progress_then_the_best_run_heatmap_and_linked_sortable_results(alice_client, alice):
    batch = create(alice, name="Two-way", grid={PERIOD: [7, 14], TP: [1.5, 3.0]}, objective="net_return")
    running = alice_client.get(f"/batches/{batch.id}/")
    page = text(running)
    assert running.status_code == 200 and "4 queued" in page and 'aria-valuenow="0' in running.content.decode()
    assert "Cancel the batch" in page and "qmBatchProgress" in running.content.decode()
    assert "No scored runs" not in page, "no empty chart before the first result"

    batch = run_all(batch)
    assert batch.status == BatchStatus.SUCCEEDED
    response = alice_client.get(f"/batches/{batch.id}/")
    html = response.content.decode()
    best = batch.summary["best"]
    assert 'id="best-run-link"' in html and f"/runs/{best['run_id']}/" in html
    assert "Deflated Sharpe Ratio" in html and 'id="heatmap"' in html and "<svg" in html
    assert "Cancel the batch" not in html and "qmBatchProgress" not in html
    assert f"/api/v1/batches/{batch.id}/report" in html and f"/runs/?batch={batch.id}" in html
    rows = re.findall(r'<tr class="[^"]*" data-run="([0-9a-f-]{36})"', html)
    assert sorted(rows) == sorted(str(r.id) for r in batch.runs.all())
    assert rows[0] == best["run_id"], "sorted by the objective, best first"
    objective = batch.summary["objective"]["name"]
    assert f'data-sort="score">Score ({objective}) ▼</a>' in html, "the objective's column is not a metric's twin"
    for run_id in rows:
        assert f'href="/runs/{run_id}/"' in html

    ascending = alice_client.get(f"/batches/{batch.id}/?sort=trade_count&order=asc").content.decode()
    order = re.findall(r'data-run="([0-9a-f-]{36})"', ascending)
    counts = {str(r.id): r.trade_count for r in batch.runs.all()}
    assert [counts[r] for r in order] == sorted(counts.values())
    assert 'aria-sort="ascending"' in ascending
    assert alice_client.get(f"/batches/{batch.id}/?sort=nonsense&order=sideways").status_code == 200
    by_equity = alice_client.get(f"/batches/{batch.id}/?sort=final_equity&order=asc").content.decode()
    order = re.findall(r'data-run="([0-9a-f-]{36})"', by_equity)
    equity = {str(r.id): r.metrics["final_equity"] for r in batch.runs.all()}
    assert [equity[r] for r in order] == sorted(equity.values()), "any metric a run reports sorts the table"
    assert 'data-sort="final_equity"' in by_equity and "<option selected>final_equity</option>" in by_equity

    listing = alice_client.get("/batches/").content.decode()
    assert f"/batches/{batch.id}/" in listing and "Two-way" in listing


def test_cancel_from_the_page(alice_client, alice):
    batch = create(alice, grid={PERIOD: [7, 14]})
    response = alice_client.post(f"/batches/{batch.id}/cancel")
    assert response.status_code == 303 and response["Location"] == f"/batches/{batch.id}/"
    assert Batch.objects.get(id=batch.id).status == BatchStatus.CANCELLED
    again = alice_client.post(f"/batches/{batch.id}/cancel")
    assert again.status_code == 303 and "cancelled" in text(alice_client.get(again["Location"])).lower()


def test_walk_forward_pages_list_the_windows_and_open_each_with_its_runs(alice_client, alice):
    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-06-01T00:00:00Z")
    batch = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={PERIOD: [7, 14]},
        walkForward={"inSample": "3mo", "outOfSample": "1mo", "step": "1mo"},
    )
    assert len(batch.windows) == 2
    batch = run_all(batch)
    assert batch.status == BatchStatus.SUCCEEDED
    html = alice_client.get(f"/batches/{batch.id}/").content.decode()
    assert 'id="windows-table"' in html and "Walk-forward efficiency" in html
    assert '<a href="?window=0">Window 1</a>' in html and '<a href="?window=1">Window 2</a>' in html
    assert 'id="results-table"' not in html  # each window lists its own runs

    window = alice_client.get(f"/batches/{batch.id}/?window=1")
    page = text(window)
    assert window.status_code == 200 and "Window 2 of 2" in page and "In-sample grid" in page
    runs = [r for r in batch.runs.all() if r.batch_params["window"] == 1]
    oos = next(r for r in runs if r.batch_params["phase"] == "out_of_sample")
    listed = re.findall(r'data-run="([0-9a-f-]{36})"', window.content.decode())
    assert sorted(listed) == sorted(str(r.id) for r in runs if r.batch_params["phase"] == "in_sample")
    assert f'href="/runs/{oos.id}/"' in window.content.decode()
    chosen = batch.windows[1]["best"]["params"][PERIOD]
    assert f"period = {chosen}" in page
    for bad in ("2", "-1", "x"):
        assert alice_client.get(f"/batches/{batch.id}/?window={bad}").status_code == 404


# ---- schedules ---------------------------------------------------------------------------------


def schedule_form(**changes) -> dict:
    import json

    data = {
        "name": "Weekday sweep",
        "timing": "cron",
        "cron": "0 6 * * 1-5",
        "timezone": "Europe/London",
        "enabled": "on",
        "definition": json.dumps({"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}}),
    }
    data.update(changes)
    return data


def test_a_schedule_is_made_from_a_batch_paused_resumed_edited_and_deleted(alice_client, alice):
    batch = create(alice, name="From a batch", grid={PERIOD: [7, 14]})
    prefilled = alice_client.get(f"/schedules/new/?batch={batch.id}").content.decode()
    assert "From a batch" in prefilled and "objective_resolved" not in prefilled and "startDate" in prefilled
    assert 'id="fixed-dates"' in prefilled, "fixed dates would be answered from the cache at every firing"

    response = alice_client.post("/schedules/new/", schedule_form())
    assert response.status_code == 303, text(response)
    schedule = Schedule.objects.get(owner=alice)
    assert response["Location"] == f"/schedules/{schedule.id}/"
    task = PeriodicTask.objects.get(name=f"qm-batch-schedule-{schedule.id}")
    assert task.enabled and task.crontab.hour == "6" and str(task.crontab.timezone) == "Europe/London"

    listing = text(alice_client.get("/schedules/"))
    assert "Weekday sweep" in listing and "active" in listing and "Pause" in listing

    paused = alice_client.post(f"/schedules/{schedule.id}/pause", {"next": f"/schedules/{schedule.id}/"})
    assert paused.status_code == 303 and paused["Location"] == f"/schedules/{schedule.id}/"
    task.refresh_from_db()
    assert not Schedule.objects.get(id=schedule.id).enabled and not task.enabled
    assert "Resume" in text(alice_client.get("/schedules/"))
    away = alice_client.post(f"/schedules/{schedule.id}/pause", {"next": "https://elsewhere.example/"})
    assert away["Location"] == "/schedules/" and Schedule.objects.get(id=schedule.id).enabled

    edited = alice_client.post(
        f"/schedules/{schedule.id}/", schedule_form(timing="interval", interval_seconds="7200", cron="")
    )
    assert edited.status_code == 303
    schedule.refresh_from_db()
    task.refresh_from_db()
    assert schedule.cron == "" and schedule.interval_seconds == 7200 and task.interval.every == 7200

    deleted = alice_client.post(f"/schedules/{schedule.id}/delete")
    assert deleted.status_code == 303 and deleted["Location"] == "/schedules/"
    assert not Schedule.objects.exists() and not PeriodicTask.objects.filter(name=task.name).exists()
    assert Batch.objects.filter(id=batch.id).exists()


@pytest.mark.parametrize(
    "changes, field, words",
    [
        ({"cron": "0 25 * * *"}, "cron", "Cron '0 25 * * *'"),
        ({"cron": "0 6 * *"}, "cron", "Cron needs five fields"),
        ({"timezone": "Mars/Olympus"}, "timezone", "is not one this server knows"),
        ({"timing": "interval", "interval_seconds": "30"}, "interval_seconds", "greater than or equal to 60"),
        ({"definition": "{not json"}, "definition", "The batch definition is not valid JSON"),
        ({"definition": '{"strategy": {}, "grid": {"nope": [1]}}'}, "definition", "Grid path"),
    ],
)
def test_schedule_problems_are_sentences_on_their_field(alice_client, changes, field, words):
    response = alice_client.post("/schedules/new/", schedule_form(**changes))
    assert response.status_code in (400, 403), response.status_code
    page = response.content.decode()
    errors = re.search(rf'id_{field}"[^>]*>.*?<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', page, re.S)
    assert errors, page[page.find("schedule-form") :][:3000]
    message = html.unescape(" ".join(re.sub(r"<[^>]+>", " ", errors.group(1)).split()))
    assert words in message and message[0].isupper() and message.endswith("."), message
    assert not Schedule.objects.exists()


def test_the_schedule_page_lists_its_batches_with_drift(alice_client, alice):
    schedule = Schedule.objects.create(owner=alice, name="Drifting", definition={}, cron="0 6 * * 1-5")
    Batch.objects.create(
        owner=alice,
        schedule=schedule,
        definition={"strategy": v4_body()},
        status=BatchStatus.SUCCEEDED,
        drift={
            "metrics": {
                "win_rate": {"previous": 60.0, "current": 40.0, "change": -20.0, "threshold": 10, "alert": True}
            }
        },
        drift_alert=True,
    )
    page = text(alice_client.get(f"/schedules/{schedule.id}/"))
    assert "Its last batches" in page and "alert" in page and "win_rate -20.00 (below −10)" in page
    assert "drift alert" in text(alice_client.get("/schedules/"))


# ---- the runs list -----------------------------------------------------------------------------


def test_the_runs_list_groups_a_batch_paginates_by_50_and_filters_by_batch(alice_client, alice):
    BacktestRun.objects.bulk_create(
        [
            BacktestRun(owner=alice, request=v4_body(), market="XAUUSD", timeframe="1h", direction="Long")
            for _ in range(55)
        ]
    )
    batch = create(alice, name="Grouped", grid={PERIOD: [7, 14, 21]})  # the newest entry: one row
    first = alice_client.get("/runs/").content.decode()
    assert len(re.findall(r'<tr data-run="', first)) == 49 and first.count("data-batch=") == 1
    assert "Grouped" in first and "3 runs (3 queued)" in text(alice_client.get("/runs/"))
    assert "Page 1 of 2" in first and "page=2" in first
    second = alice_client.get("/runs/?page=2").content.decode()
    assert len(re.findall(r'<tr data-run="', second)) == 6 and "data-batch=" not in second

    only = alice_client.get(f"/runs/?batch={batch.id}")
    listed = only.content.decode()
    assert len(re.findall(r'<tr data-run="', listed)) == 3 and "Runs of batch Grouped" in listed
    assert "period=7" in listed and "period=21" in listed
    assert "No runs match" in text(alice_client.get(f"/runs/?batch={batch.id}&status=SUCCEEDED"))
    assert alice_client.get("/runs/?batch=not-a-uuid").status_code == 404


def test_a_batch_still_saving_its_runs_a_failed_one_and_a_running_walk_forward_render(alice_client, alice):
    saving = Batch.objects.create(
        owner=alice, name="Big", definition={"strategy": v4_body(), "grid": {PERIOD: [7, 14]}}, stage="creating_runs"
    )
    saving.planned_runs = 10_000
    saving.save()
    page = text(alice_client.get(f"/batches/{saving.id}/"))
    assert "saving the runs (0 of 10000)" in page and "The best run is chosen when every run is final." in page

    failed = Batch.objects.create(
        owner=alice,
        definition={"strategy": v4_body()},
        status=BatchStatus.FAILED,
        error_code="BATCH_CREATE_FAILED",
        error_message="the runs could not be saved",
    )
    page = text(alice_client.get(f"/batches/{failed.id}/"))
    assert "BATCH_CREATE_FAILED the runs could not be saved" in page and "Cancel the batch" not in page

    body = v4_body(marketContext__startDate="2024-01-01T00:00:00Z", marketContext__endDate="2024-06-01T00:00:00Z")
    running = create(
        alice,
        mode="walk_forward",
        strategy=body,
        grid={PERIOD: [7, 14]},
        walkForward={"inSample": "3mo", "outOfSample": "1mo"},
    )
    page = text(alice_client.get(f"/batches/{running.id}/"))
    assert "Window 2" in page and "running in sample" in page and "4 queued" in page
    window = text(alice_client.get(f"/batches/{running.id}/?window=0"))
    assert "after the in-sample runs" in window and "Not yet: it runs once every in-sample run" in window
