"""relaxed_commit: its own transaction commits without waiting for the WAL flush; inside an
outer transaction it leaves the outer commit durable; what it writes is committed."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from qm_platform.db import relaxed_commit

pytestmark = pytest.mark.django_db(transaction=True)


def _setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_its_own_transaction_does_not_wait_for_the_disk_and_the_next_one_does():
    assert connection.vendor == "postgresql"
    default = _setting()
    assert default != "off"
    with relaxed_commit():
        assert connection.in_atomic_block
        assert _setting() == "off"
    assert _setting() == default  # SET LOCAL ends with the transaction


def test_inside_an_outer_transaction_the_outer_commit_stays_durable():
    with transaction.atomic():
        with relaxed_commit():
            assert _setting() != "off"
        assert _setting() != "off"


def test_what_it_writes_is_committed_for_other_connections():
    from django.contrib.auth.models import User

    with relaxed_commit():
        User.objects.create(username="relaxed")
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"], dbname=settings["NAME"]
    ) as other:
        assert other.execute("SELECT count(*) FROM auth_user WHERE username = 'relaxed'").fetchone()[0] == 1


def test_an_error_inside_rolls_back():
    from django.contrib.auth.models import User

    with pytest.raises(RuntimeError), relaxed_commit():
        User.objects.create(username="rolled-back")
        raise RuntimeError
    assert not User.objects.filter(username="rolled-back").exists()
