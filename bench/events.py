"""Event latency benchmark: a worker's persist-then-publish to receipt by SSE and WebSocket clients, p50/p99/max."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import multiprocessing
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import httpx
import psycopg
import websockets
from websockets.asyncio.client import connect as ws_connect

from shared.db.session import create_sync_db_engine, sync_session_factory
from shared.events import Publisher, RedisPublisher, event_channel, new_event
from worker.jobs import JobStore

MODES = ("distributed", "embedded")
TRANSPORTS = ("sse", "ws")
DATASET = "bench"
EVENT_TYPE = "bench.tick"
# Another dataset, so that warm-up events pass through the relay but reach no bench client.
WARMUP_DATASET = "bench-warmup"
WARMUP_EVENTS = 5
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/14"
CONNECT_TIMEOUT_S = 30.0
SETTLE_S = 0.5

SendFn = Callable[[int], "Sent"]


@dataclass
class Sent:
    """What the sender did in one run: events committed and published, and how long that took."""

    events: int
    wall_s: float
    commit_publish_ms: list[float]
    errors: int
    first_error: str | None

    @property
    def commit_publish_p50_ms(self) -> float:
        return harness.percentile(self.commit_publish_ms, 50)


class Sender:
    """Acts as a worker: events go through `JobStore`'s own persist-then-publish path."""

    def __init__(self, database_url: str, publish: Publisher) -> None:
        self.engine = create_sync_db_engine(database_url)
        self.store = JobStore(sync_session_factory(self.engine), publish)

    def emit(self, dataset: str, payload: dict[str, Any]) -> float:
        """Persist and publish one event; returns the milliseconds from `sent_at` to the end of the publish."""
        with self.store.sessions() as session:
            sent_at = time.time_ns()
            event = new_event(EVENT_TYPE, dataset=dataset, payload={**payload, "sent_at": sent_at})
            # The private method on purpose: the bench must time the worker's real lock, commit and publish.
            self.store._commit_with_events(session, [event])
        return (time.time_ns() - sent_at) / 1e6

    def warmup(self) -> None:
        """Open the database and broker connections and wake the relay before anything is timed."""
        for i in range(WARMUP_EVENTS):
            self.emit(WARMUP_DATASET, {"i": i})

    def send(self, run: int, events: int, rate: float) -> Sent:
        """`events` events tagged with `run`, paced at `rate` per second."""
        durations: list[float] = []
        errors = 0
        first_error: str | None = None
        started = time.perf_counter()
        for i in range(events):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                durations.append(self.emit(DATASET, {"run": run, "i": i}))
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
        return Sent(len(durations), time.perf_counter() - started, durations, errors, first_error)

    def close(self) -> None:
        self.engine.dispose()


@dataclass(eq=False)
class Receiver:
    """One client's view of a run: which bench events arrived, in what order, how late."""

    transport: str
    run: int
    events: int
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    indices: list[int] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    unique: set[int] = field(default_factory=set)
    error: str | None = None

    def record(self, message: dict[str, Any], received_ns: int) -> bool:
        """Take one decoded event; True once every event of the run has arrived."""
        payload = message.get("payload") or {}
        if message.get("type") != EVENT_TYPE or payload.get("run") != self.run:
            return False
        self.indices.append(payload["i"])
        self.seqs.append(message["seq"])
        self.unique.add(payload["i"])
        self.latencies_ms.append((received_ns - payload["sent_at"]) / 1e6)
        return len(self.unique) >= self.events

    @property
    def out_of_order(self) -> int:
        """Events that came after one with a larger index or seq."""
        return sum(
            1
            for k in range(1, len(self.indices))
            if self.indices[k] < self.indices[k - 1] or self.seqs[k] <= self.seqs[k - 1]
        )


@dataclass
class Result:
    """The figures of one (mode, transport, clients) measurement."""

    mode: str
    transport: str
    clients: int
    events: int
    receivers: list[Receiver]
    sent: Sent

    @property
    def latencies_ms(self) -> list[float]:
        return [value for receiver in self.receivers for value in receiver.latencies_ms]

    def percentile(self, q: float) -> float:
        return harness.percentile(self.latencies_ms, q)

    @property
    def received(self) -> str:
        counts = [len(receiver.unique) for receiver in self.receivers]
        low, high = min(counts), max(counts)
        return str(low) if low == high else f"{low}..{high}"

    @property
    def missed(self) -> int:
        return sum(self.events - len(receiver.unique) for receiver in self.receivers)

    @property
    def duplicates(self) -> int:
        return sum(len(receiver.indices) - len(receiver.unique) for receiver in self.receivers)

    @property
    def out_of_order(self) -> int:
        return sum(receiver.out_of_order for receiver in self.receivers)

    @property
    def errors(self) -> list[str]:
        return [receiver.error for receiver in self.receivers if receiver.error]

    @property
    def failed(self) -> bool:
        return bool(self.missed or self.errors or self.sent.errors)

    def line(self) -> str:
        return (
            f"{self.mode:<11} {self.transport:<3} clients={self.clients:<3} "
            f"received/client={self.received} of {self.events} p50={self.percentile(50):.1f}ms "
            f"p99={self.percentile(99):.1f}ms max={self.percentile(100):.1f}ms "
            f"commit+publish p50={self.sent.commit_publish_p50_ms:.1f}ms missed={self.missed} "
            f"duplicates={self.duplicates} out_of_order={self.out_of_order} client_errors={len(self.errors)}"
        )

    def cells(self) -> list[str]:
        return [
            self.mode,
            self.transport,
            str(self.clients),
            str(self.events),
            self.received,
            f"{self.percentile(50):.1f}",
            f"{self.percentile(99):.1f}",
            f"{self.percentile(100):.1f}",
            f"{self.sent.commit_publish_p50_ms:.1f}",
            str(self.missed),
            str(self.out_of_order),
        ]


async def sse_client(http: httpx.AsyncClient, receiver: Receiver) -> None:
    """Read `GET /events?dataset=bench` until the run's events are in; connected once `retry:` arrives."""
    async with http.stream("GET", "/events", params={"dataset": DATASET}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"GET /events answered {response.status_code}: {(await response.aread())!r}")
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if "data" in fields:
                    message = json.loads(fields["data"])
                    if receiver.record(message, time.time_ns()):
                        return
                fields = {}
                continue
            key, _, value = line.partition(":")
            if key == "retry":
                receiver.connected.set()
            fields[key] = value[1:] if value.startswith(" ") else value


async def ws_client(url: str, receiver: Receiver) -> None:
    """Read `/ws/events?dataset=bench` until the run's events are in; connected once the handshake is done."""
    async with ws_connect(
        f"{url}/ws/events?dataset={DATASET}",
        additional_headers=harness.auth_headers(),
        proxy=None,
        open_timeout=CONNECT_TIMEOUT_S,
        max_queue=None,
    ) as socket_:
        receiver.connected.set()
        async for raw in socket_:
            message = json.loads(raw)
            received_ns = time.time_ns()
            if message.get("type") == "error":
                raise RuntimeError(f"server sent an error: {message}")
            if receiver.record(message, received_ns):
                return


async def guarded(receiver: Receiver, client: Any) -> None:
    """Run one client, keeping its error on the receiver instead of failing the whole run."""
    try:
        await client
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        receiver.error = f"{type(exc).__name__}: {exc}"
    finally:
        # A client that failed to connect must not hold up the others' start.
        receiver.connected.set()


async def measure(
    base_url: str, mode: str, clients: int, run: int, events: int, send: SendFn, drain_s: float
) -> list[Result]:
    """Connect `clients` SSE and `clients` WebSocket clients, send the run's events, collect what arrived."""
    receivers = {transport: [Receiver(transport, run, events) for _ in range(clients)] for transport in TRANSPORTS}
    ws_url = "ws" + base_url.removeprefix("http")
    # Streams are long-lived: no read timeout, and one connection per SSE client.
    timeout = httpx.Timeout(CONNECT_TIMEOUT_S, read=None)
    limits = httpx.Limits(max_connections=clients + 1, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=base_url, headers=harness.auth_headers(), timeout=timeout, limits=limits, trust_env=False
    ) as http:
        tasks = [asyncio.create_task(guarded(r, sse_client(http, r))) for r in receivers["sse"]]
        tasks += [asyncio.create_task(guarded(r, ws_client(ws_url, r))) for r in receivers["ws"]]
        everyone = [receiver for group in receivers.values() for receiver in group]
        try:
            try:
                await asyncio.wait_for(asyncio.gather(*(r.connected.wait() for r in everyone)), CONNECT_TIMEOUT_S)
            except TimeoutError:
                waiting = sum(not r.connected.is_set() for r in everyone)
                raise RuntimeError(
                    f"{waiting} of {len(everyone)} clients not connected after {CONNECT_TIMEOUT_S:.0f}s"
                ) from None
            # The server subscribes a client after its first bytes go out; give every subscription time to exist.
            await asyncio.sleep(SETTLE_S)
            sent = await asyncio.to_thread(send, run)
            await asyncio.wait(tasks, timeout=drain_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return [Result(mode, transport, clients, events, group, sent) for transport, group in receivers.items()]


@contextlib.contextmanager
def distributed_server(args: argparse.Namespace, log_path: Path) -> Iterator[tuple[str, SendFn]]:
    """`wake-training serve` on Postgres and Redis, and this process as the worker that publishes."""
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(harness.postgres_database())
        base_url = stack.enter_context(
            harness.wake_training_server(
                log_path,
                data_dir_prefix="wake-training-bench-events-",
                database_url=database_url,
                broker_url=args.broker_url,
                # As for every client here: a proxy from the environment must not sit in front of 127.0.0.1.
                trust_env=False,
            )
        )
        # The same channel and publisher a Celery worker process builds in worker/tasks.py.
        publisher = RedisPublisher(args.broker_url, event_channel(database_url))
        stack.callback(publisher.close)
        sender = Sender(database_url, publisher.publish)
        stack.callback(sender.close)
        sender.warmup()
        yield base_url, lambda run: sender.send(run, args.events, args.rate)


def embedded_main(
    data_dir: str, port: int, log_path: str, events: int, rate: float, commands: Any, replies: Any
) -> None:
    """The embedded server process: the API on SQLite plus a sender thread publishing on its in-process bus."""
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    import uvicorn

    import migrations
    from api.app import create_app
    from shared.settings import Settings

    # Explicit arguments win over any WAKE_TRAINING_* inherited from the shell: SQLite, no broker.
    settings = Settings(data_dir=Path(data_dir), database_url=None, broker_url=None, host="127.0.0.1", port=port)
    migrations.upgrade(settings.resolved_database_url)
    app = create_app(settings)

    def serve_commands() -> None:
        sender: Sender | None = None
        while (command := commands.get()) is not None:
            kind, run = command
            try:
                if sender is None:
                    # The bus exists once the app's lifespan has started, which /health answering implies.
                    sender = Sender(settings.resolved_database_url, app.state.relay.bus.publish)
                if kind == "warmup":
                    sender.warmup()
                    replies.put(None)
                else:
                    replies.put(dataclasses.asdict(sender.send(run, events, rate)))
            except Exception as exc:
                replies.put(f"{type(exc).__name__}: {exc}")
        if sender is not None:
            sender.close()

    threading.Thread(target=serve_commands, name="bench-sender", daemon=True).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@contextlib.contextmanager
def embedded_server(args: argparse.Namespace, log_path: Path) -> Iterator[tuple[str, SendFn]]:
    """The embedded API (SQLite, in-process bus) in a child process that also acts as its embedded worker."""
    data_dir = Path(tempfile.mkdtemp(prefix="wake-training-bench-events-"))
    context = multiprocessing.get_context("spawn")
    commands = context.Queue()
    replies = context.Queue()
    port = harness.free_port()
    process = context.Process(
        target=embedded_main,
        args=(str(data_dir), port, str(log_path), args.events, args.rate, commands, replies),
        name="wake-training-embedded",
    )
    reply_timeout_s = args.events / args.rate + harness.HEALTH_TIMEOUT_S

    def call(kind: str, run: int) -> Any:
        commands.put((kind, run))
        while True:
            try:
                reply = replies.get(timeout=1)
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"embedded server exited:\n{harness.log_tail(log_path)}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded sender did not answer within {reply_timeout_s:.0f}s") from None
                continue
            if isinstance(reply, str):
                raise RuntimeError(f"embedded sender failed: {reply}")
            return reply

    def send(run: int) -> Sent:
        nonlocal deadline
        deadline = time.monotonic() + reply_timeout_s
        return Sent(**call("send", run))

    process.start()
    try:
        base_url = f"http://127.0.0.1:{port}"
        harness.wait_healthy(base_url, lambda: process.exitcode, log_path, trust_env=False)
        deadline = time.monotonic() + reply_timeout_s
        call("warmup", 0)
        yield base_url, send
    finally:
        commands.put(None)
        if process.is_alive():
            process.terminate()
            process.join(harness.STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()
        shutil.rmtree(data_dir, ignore_errors=True)


SERVERS = {"distributed": distributed_server, "embedded": embedded_server}


parse_clients = harness.positive_int_list("client counts")


def positive_float(value: str) -> float:
    """A number above 0."""
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {value}")
    return number


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--mode",
        choices=[*MODES, "both"],
        default="distributed",
        help="distributed: Postgres + Redis, this process publishing as a worker; "
        "embedded: SQLite + in-process bus, published from a thread of the server process (default distributed)",
    )
    parser.add_argument(
        "--clients",
        type=parse_clients,
        default=[1, 50],
        help="SSE clients and as many WebSocket clients connected at once; a comma list runs each (default 1,50)",
    )
    parser.add_argument(
        "--events", type=harness.positive_int, default=200, help="events published per run (default 200)"
    )
    parser.add_argument("--rate", type=positive_float, default=50.0, help="events per second (default 50)")
    parser.add_argument(
        "--broker-url", default=DEFAULT_BROKER_URL, help=f"Redis of the distributed mode (default {DEFAULT_BROKER_URL})"
    )
    parser.add_argument(
        "--drain-timeout",
        type=positive_float,
        default=10.0,
        help="seconds clients may still wait for events after the last one is sent (default 10)",
    )
    return parser.parse_args(argv)


def report(results: list[Result]) -> None:
    columns = (
        "mode",
        "transport",
        "clients",
        "events",
        "received/client",
        "p50 ms",
        "p99 ms",
        "max ms",
        "commit+publish p50 ms",
        "missed",
        "out of order",
    )
    harness.print_table(columns, (result.cells() for result in results), text_columns=2)


def bench_mode(mode: str, args: argparse.Namespace) -> list[Result]:
    """Every client count against one fresh server of the mode, printing each line as it is measured."""
    results: list[Result] = []
    with harness.server_log(f"wake-training-bench-events-{mode}-", mode) as log:
        with SERVERS[mode](args, log.path) as (base_url, send):
            for run, clients in enumerate(args.clients, start=1):
                measured = asyncio.run(measure(base_url, mode, clients, run, args.events, send, args.drain_timeout))
                for result in measured:
                    print(result.line(), flush=True)
                    if result.sent.first_error:
                        print(f"  first send error: {result.sent.first_error}", file=sys.stderr)
                    if result.errors:
                        print(f"  first client error: {result.errors[0]}", file=sys.stderr)
                results += measured
        log.keep = any(result.failed for result in results)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results: list[Result] = []
    try:
        for mode in MODES if args.mode == "both" else (args.mode,):
            results += bench_mode(mode, args)
    except (RuntimeError, httpx.HTTPError, websockets.WebSocketException, psycopg.OperationalError, OSError) as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 2
    report(results)
    return 1 if any(result.failed for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
