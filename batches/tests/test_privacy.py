"""A user's batches and schedules leave with their account (and appear in their export); beat
stops firing a deleted user's schedule; nothing of another user's is touched."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_celery_beat.models import PeriodicTask

from accounts import privacy
from backtests.tests.factories import v4_body
from batches.models import Batch, Schedule
from batches.services import lifecycle, schedules
from batches.services.privacy import batch_delete_for_user, batch_export_for_user

pytestmark = pytest.mark.django_db
SHORT = {"marketContext__startDate": "2024-01-01T00:00:00Z", "marketContext__endDate": "2024-02-01T00:00:00Z"}
PERIOD = "decisionBlocks[0].subConfirmations[0].config.period"


def batch_with_pdf(user) -> Batch:
    batch = lifecycle.batch_create(user=user, definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7, 14]}})
    key = default_storage.save(f"reports/batch-{batch.id}.pdf", ContentFile(b"%PDF-1.7 test"))
    Batch.objects.filter(id=batch.id).update(report_key=key)
    batch.refresh_from_db()
    return batch


def schedule_of(user, name: str) -> Schedule:
    return schedules.schedule_create(
        user=user, name=name, definition={"strategy": v4_body(**SHORT), "grid": {PERIOD: [7]}}, interval_seconds=86400
    )


def test_batches_register_their_part_of_the_export_and_deletion():
    assert "batches" in privacy.registered()


def test_export_holds_the_users_batches_schedules_and_batch_pdfs_only(alice, bob):
    mine, theirs = batch_with_pdf(alice), batch_with_pdf(bob)
    schedule_of(alice, "mine")
    schedule_of(bob, "theirs")
    part = batch_export_for_user(user=alice)
    assert [b["id"] for b in part.data["batches"]] == [mine.id]
    assert [s["name"] for s in part.data["schedules"]] == ["mine"]
    assert [f.path for f in part.files] == [f"batches/{mine.id}.pdf"]
    assert part.files[0].open().read() == b"%PDF-1.7 test"
    assert str(theirs.id) not in repr(part.data)


def test_deletion_removes_batch_pdfs_schedules_and_their_beat_tasks_and_leaves_bobs(alice, bob):
    mine, theirs = batch_with_pdf(alice), batch_with_pdf(bob)
    my_schedule, their_schedule = schedule_of(alice, "mine"), schedule_of(bob, "theirs")
    my_task = my_schedule.periodic_task_id

    counts = batch_delete_for_user(user=alice)

    assert counts == {"batches": 1, "schedules": 1, "report_files": 1}
    assert not default_storage.exists(mine.report_key) and default_storage.exists(theirs.report_key)
    assert not Batch.objects.filter(id=mine.id).exists() and Batch.objects.filter(id=theirs.id).exists()
    assert not PeriodicTask.objects.filter(id=my_task).exists()
    assert PeriodicTask.objects.filter(id=their_schedule.periodic_task_id).exists()
