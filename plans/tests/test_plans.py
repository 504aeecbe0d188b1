"""Plans: a new account is on Free; each limit answers before anything is saved or enqueued;
a user's runs wait in the outbox beyond their plan's concurrency; runs carry the plan's priority."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backtests import services
from backtests.models import BacktestRun, RunStatus
from backtests.tests.factories import v4_body
from plans.models import Plan, UserPlan
from plans.selectors import plan_for_user

pytestmark = pytest.mark.django_db
URL = "/api/v1/backtests"


def on_plan(user, slug: str, **limits) -> Plan:
    plan = Plan.objects.get(slug=slug)
    for name, value in limits.items():
        setattr(plan, name, value)
    plan.save()
    UserPlan.objects.update_or_create(user=user, defaults={"plan": plan})
    return plan


def test_a_new_account_is_on_free_with_the_seeds_submission_rate(alice):
    plan = plan_for_user(user=alice)
    assert plan.slug == "free" and plan.submit_rate == "10/min"
    assert [p.slug for p in Plan.objects.all()] == ["elite", "pro", "free"]  # by priority


def test_submissions_beyond_the_plans_rate_are_429_with_retry_after(alice_api, alice):
    on_plan(alice, "free", submit_rate="3/min")
    answers = [alice_api.post(URL, v4_body(cache=False), format="json") for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    limited = answers[-1]
    assert limited.json()["code"] == "RATE_LIMITED" and int(limited["Retry-After"]) > 0
    assert BacktestRun.objects.count() == 3


def test_a_submission_reads_its_users_plan_once_and_applies_it(alice_api, alice):
    on_plan(alice, "free", runs_per_day=1)
    with CaptureQueriesContext(connection) as queries:
        assert alice_api.post(URL, v4_body(cache=False), format="json").status_code == 202
    assert sum('FROM "plans_userplan"' in q["sql"] for q in queries.captured_queries) == 1
    # the plan read by the throttle is the one the submission checks: its quota holds
    assert alice_api.post(URL, v4_body(cache=False), format="json").json()["code"] == "QUOTA_EXCEEDED"


def test_the_daily_run_quota_is_429_naming_the_limit_the_use_and_the_reset(alice_api, alice):
    on_plan(alice, "free", runs_per_day=2)
    for _ in range(2):
        assert alice_api.post(URL, v4_body(cache=False), format="json").status_code == 202
    refused = alice_api.post(URL, v4_body(cache=False), format="json")
    assert refused.status_code == 429
    body = refused.json()
    assert body["code"] == "QUOTA_EXCEEDED" and body["details"]["limit"] == "runs_per_day"
    assert body["details"]["allowed"] == 2 and body["details"]["used"] == 2
    assert body["details"]["resets_at"] > timezone.now().isoformat()
    assert BacktestRun.objects.count() == 2


def test_a_window_longer_than_the_plan_allows_is_403_plan_limit(alice_api, alice):
    on_plan(alice, "free", bars_per_run=1_000)
    refused = alice_api.post(URL, v4_body(), format="json")  # six months of 1h bars
    assert refused.status_code == 403 and refused.json()["code"] == "PLAN_LIMIT"
    assert refused.json()["details"]["limit"] == "bars_per_run"
    assert BacktestRun.objects.count() == 0


def test_a_data_source_outside_the_plan_is_403(alice_api, alice):
    on_plan(alice, "free", data_sources=["dataset"])
    refused = alice_api.post(URL, v4_body(), format="json")
    assert refused.status_code == 403 and refused.json()["details"]["limit"] == "data_sources"


@override_settings(QM_RENDER_PDF=False)
def test_runs_beyond_the_plans_concurrency_wait_in_the_outbox_and_follow_as_runs_finish(
    alice, bob, django_capture_on_commit_callbacks
):
    on_plan(alice, "free", concurrent_runs=2)
    with django_capture_on_commit_callbacks(execute=True):
        runs = [services.backtest_submit(user=alice, body=v4_body(cache=False)) for _ in range(4)]
        bobs = services.backtest_submit(user=bob, body=v4_body(cache=False))
    dispatched = set(BacktestRun.objects.filter(dispatched_at__isnull=False).values_list("id", flat=True))
    assert dispatched == {runs[0].id, runs[1].id, bobs.id}  # alice's other two wait; bob does not

    with django_capture_on_commit_callbacks(execute=True):
        assert services.backtest_execute(run_id=runs[0].id) == RunStatus.SUCCEEDED
    runs[2].refresh_from_db()
    assert runs[2].dispatched_at is not None  # a slot came free: the next of hers was sent
    runs[3].refresh_from_db()
    assert runs[3].dispatched_at is None


def test_a_finished_run_sends_the_oldest_waiting_runs_that_fit_and_reads_no_more(
    alice, django_capture_on_commit_callbacks
):
    """With many runs waiting, the outbox reads a chunk's worth of them, and more only when there
    is room for more (it read up to 1,000 rows at every run's end), and sends the oldest first;
    with no room it sends nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    chunk = settings.QM_BATCH_CHUNK_RUNS
    on_plan(alice, "free", concurrent_runs=3)
    with django_capture_on_commit_callbacks(execute=True):
        runs = [services.backtest_submit(user=alice, body=v4_body(cache=False)) for _ in range(chunk + 6)]
    assert services.backtest_dispatch_waiting(owner_id=alice.id) == 0  # three in flight: no room
    BacktestRun.objects.filter(id__in=[runs[0].id, runs[1].id]).update(status=RunStatus.CANCELLED)
    with CaptureQueriesContext(connection) as queries:
        assert services.backtest_dispatch_waiting(owner_id=alice.id) == 2
    sent = set(BacktestRun.objects.filter(dispatched_at__isnull=False).values_list("id", flat=True))
    assert sent == {run.id for run in runs[:5]}  # the two freed slots went to the oldest waiting
    reads = [q["sql"] for q in queries.captured_queries if '"data_end"' in q["sql"]]
    assert len(reads) == 1 and reads[0].endswith(f"LIMIT {chunk}"), reads
    # room for more than a chunk: as many as fit are read, and every waiting run is sent in order
    on_plan(alice, "free", concurrent_runs=chunk + 20)
    with CaptureQueriesContext(connection) as queries:
        assert services.backtest_dispatch_waiting(owner_id=alice.id) == chunk + 1
    reads = [q["sql"] for q in queries.captured_queries if '"data_end"' in q["sql"]]
    assert len(reads) == 2 and reads[1].endswith(f"LIMIT {chunk + 20 - 3}"), reads
    assert BacktestRun.objects.filter(status=RunStatus.QUEUED, dispatched_at__isnull=True).count() == 0


def test_runs_are_sent_with_their_plans_priority(alice, bob, django_capture_on_commit_callbacks):
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.flushdb()  # this test run's own broker database
    on_plan(alice, "pro")
    on_plan(bob, "free")
    with django_capture_on_commit_callbacks(execute=True):
        services.backtest_submit(user=alice, body=v4_body(cache=False))
        services.backtest_submit(user=bob, body=v4_body(cache=False))
    assert client.llen("backtests:3") == 1 and client.llen("backtests:6") == 1
