"""The outbox's rules, on both databases: which queued jobs are sent to the broker again, and when."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from api.jobs.outbox import Outbox, send_queued
from shared.db.base import utcnow
from shared.db.models import Job
from tests.conftest import create_dataset

LONG_AGO = datetime(2000, 1, 1, tzinfo=utcnow().tzinfo)


class RecordingDispatcher:
    """A broker that keeps what it is sent, and a run id the test changes to play a restart."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int]] = []
        self.instance = "run-1"

    async def enqueue(self, job_id: uuid.UUID, attempt: int) -> None:
        self.sent.append((str(job_id), attempt))

    async def broker_instance(self) -> str | None:
        return self.instance


@pytest.fixture
def broker(client: TestClient) -> Iterator[RecordingDispatcher]:
    """The app's dispatcher swapped for a recording one: jobs stay queued, nothing runs them."""
    state = client.app.state
    real, state.dispatcher = state.dispatcher, RecordingDispatcher()
    yield state.dispatcher
    state.dispatcher = real


def queue_job(client: TestClient) -> str:
    create_dataset(client, f"ds-{uuid.uuid4().hex[:8]}")
    name = client.get("/datasets").json()[-1]["name"]
    response = client.post(f"/datasets/{name}/synthesize", json={"phrase": "hey jarvis", "count": 1})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def set_job(client: TestClient, job_id: str, **values: Any) -> None:
    async def change() -> None:
        async with client.app.state.session_factory() as session:
            # updated_at kept: the test changes what a worker or the clock would, not what a user does.
            statement = update(Job).where(Job.id == uuid.UUID(job_id)).values(updated_at=Job.updated_at, **values)
            await session.execute(statement)
            await session.commit()

    client.blocking_portal.call(change)


def send(client: TestClient, *, everything: bool = False) -> int:
    return client.blocking_portal.call(lambda: send_queued(client.app.state, everything=everything))


def test_a_queued_job_is_sent_again_only_once_its_last_send_is_older_than_the_resend_time(
    client: TestClient, broker: RecordingDispatcher
) -> None:
    job_id = queue_job(client)
    assert (job_id, 1) in broker.sent, "submitting sends the job"
    assert send(client) == 0, "a job sent a moment ago is not sent again"

    before = client.get(f"/jobs/{job_id}").json()
    set_job(client, job_id, sent_at=LONG_AGO)
    assert send(client) == 1
    assert broker.sent[-1] == (job_id, 1), "the copy names the same attempt, so only one can claim the job"
    assert send(client) == 0, "the send is recorded: the next pass leaves it"
    after = client.get(f"/jobs/{job_id}").json()
    assert after["status"] == "queued" and after["updated_at"] == before["updated_at"]


def test_a_job_never_sent_for_its_attempt_is_sent_at_the_next_pass(
    client: TestClient, broker: RecordingDispatcher
) -> None:
    job_id = queue_job(client)
    # What the reaper or a worker shutting down leaves: attempt 2 queued, its message not sent yet.
    set_job(client, job_id, attempts=2, sent_at=None)

    assert send(client) == 1
    assert broker.sent[-1] == (job_id, 2)


def test_a_job_a_worker_took_or_that_ended_is_never_sent_again(client: TestClient, broker: RecordingDispatcher) -> None:
    running, cancelled = queue_job(client), queue_job(client)
    set_job(client, running, status="running", sent_at=LONG_AGO)
    set_job(client, cancelled, status="cancelled", sent_at=LONG_AGO)

    assert send(client, everything=True) == 0


def test_every_queued_job_is_sent_at_the_first_pass_and_again_after_the_broker_restarted(
    client: TestClient, broker: RecordingDispatcher
) -> None:
    jobs = {queue_job(client), queue_job(client)}
    outbox = Outbox()

    def run_once() -> int:
        return client.blocking_portal.call(lambda: outbox.run_once(client.app.state))

    assert run_once() == 2, "at the API's start nothing is known of what the broker holds"
    assert run_once() == 0, "the same broker, recent sends: nothing to do"
    broker.instance = "run-2"
    assert run_once() == 2, "a restarted broker may have dropped every message"
    assert {job for job, _ in broker.sent[-2:]} == jobs
