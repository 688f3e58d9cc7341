"""``todoke serve``: the HTTP API and the workers in one event loop (dispatch optionally in
supervised child processes: ``todoke.supervisor``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shlex
import signal
from collections.abc import Generator

import uvicorn

from todoke import __version__
from todoke.api.http_protocol import guarded_protocol
from todoke.app import Runtime, create_app
from todoke.config import Settings
from todoke.logging import configure
from todoke.store.database import redacted
from todoke.supervisor import WorkerSupervisor

DEMO_NAME = "demo"


async def serve(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; in-flight writes are committed before exit."""
    configure(settings.log_level, settings.log_format)
    children = settings.dispatch_processes if settings.dispatch_enabled else 0
    runtime = Runtime(settings)
    await runtime.start(delivery=settings.dispatch_enabled and not children)
    supervisor = WorkerSupervisor(settings, children) if children else None
    if supervisor is not None:
        supervisor.start()
    try:
        print(await _banner(runtime), flush=True)
        config = uvicorn.Config(
            create_app(settings, runtime),
            host=settings.host,
            port=settings.port,
            # Request hygiene (docs/protection.md): header deadline and size, connection cap.
            http=guarded_protocol(
                header_timeout=settings.slow_client_timeout,
                max_header_bytes=settings.max_header_bytes,
                max_headers=settings.max_headers,
            ),
            limit_concurrency=settings.max_connections,
            # The client address is todoke's to work out (TODOKE_TRUSTED_PROXIES, read from
            # the right; docs/protection.md): uvicorn's own X-Forwarded-For handling trusts
            # any loopback peer and would let a local client choose its address.
            proxy_headers=False,
            lifespan="on",
            access_log=settings.access_log,
            log_level="warning",
            server_header=False,
            timeout_keep_alive=30,
            backlog=4096,
        )
        settle_heap()
        await _Server(config).serve()
    finally:
        if supervisor is not None:
            await supervisor.stop()
        await runtime.stop()


def settle_heap() -> None:
    """Keep the garbage collector off the hot path.

    Every request allocates, so the collector runs all the time, and each older-generation
    pass walked every object of the process, most of them built at start-up and never freed
    (modules, tables, phone metadata, the application): under an accept load it took about a
    tenth of the CPU, and its full passes made the slowest answers (p99 ~180 ms, ~55 ms
    without; docs/performance.md). ``gc.freeze`` moves what exists now into a generation that
    is never collected, and a larger first generation (5,000 allocations instead of 700)
    makes the young passes rarer; reference counting frees nearly everything anyway, the
    collector only finds cycles.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(5000, 20, 20)


class _Server(uvicorn.Server):
    """uvicorn's server, stopped by SIGINT/SIGTERM without re-raising the signal afterwards.

    uvicorn restores the default handlers and raises the captured signal again once it has
    shut down, which ends the process before ``serve``'s ``finally`` (the runtime's graceful
    stop: dispatch, webhooks, SMPP unbind, child workers) can run.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def _banner(runtime: Runtime) -> str:
    settings = runtime.settings
    base = settings.base_url
    lines = [
        f"todoke {__version__} listening on {base}",
        f"  database: {redacted(settings.database_url)}",
        f"  API docs: {base}/docs   OpenAPI: {base}/openapi.json",
    ]
    if settings.dispatch_enabled and settings.dispatch_processes:
        lines.append(f"  delivery: {settings.dispatch_processes} `todoke worker` child process(es)")
    accounts = runtime.services.accounts
    if settings.demo_account and await accounts.count() == 0:
        issued = await accounts.create(DEMO_NAME)
        token = issued.token
        lines += [
            "",
            f"Demo account created: clientId {issued.account.id}, "
            f"smsCode {issued.account.default_sender_code}",
            f"  token: {token}   (shown once: keep it)",
            *await _mediasms_login(runtime, issued.account.id),
            "",
            "Send a first message:",
            "  " + send_example(base, token),
            "Then read it back (use the id from the answer):",
            f"  curl -sS {base}/v1/messages/ID -H 'Authorization: Bearer {token}'",
        ]
    else:
        lines += [
            "",
            "Accounts: `todoke accounts list`; a new token: `todoke tokens rotate --client-id N`.",
        ]
    return "\n".join(lines)


async def _mediasms_login(runtime: Runtime, account_id: int) -> list[str]:
    """The demo account's MediaSMS-compatible login (``/api/``), shown once."""
    if runtime.services.mediasms is None:
        return []
    login = await runtime.services.mediasms.issue_login(account_id)
    return [f"  MediaSMS login (/api/): {login.username} / {login.password}   (shown once)"]


def send_example(base: str, token: str) -> str:
    """A ready-to-paste curl command that sends one message."""
    body = '{"to": "090-1234-5678", "text": "こんにちは、todokeです"}'
    return (
        f"curl -sS -X POST {base}/v1/messages -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


async def run_worker(settings: Settings) -> None:
    """``todoke worker``: the delivery engine without the HTTP API, until SIGINT/SIGTERM."""
    configure(settings.log_level, settings.log_format)
    runtime = Runtime(settings)
    await runtime.start(delivery=True)
    settle_heap()
    print(f"todoke {__version__} worker running (database: {redacted(settings.database_url)})")
    try:
        await _wait_for_signal()
    finally:
        await runtime.stop()


async def run_simulator(
    host: str, port: int, seed: int, time_factor: float, control_port: int | None = None
) -> None:
    """``todoke simulator``: the carrier simulator alone, until SIGINT/SIGTERM.

    With ``control_port``, its counters and drills are served over HTTP on ``host`` too
    (``carriers/simulator/control.py``; 0 picks a free port)."""
    import asyncio

    from todoke.carriers.simulator import CarrierSimulator, SimulatorConfig
    from todoke.carriers.simulator.control import ControlApp

    configure("info", "console")
    sim = CarrierSimulator(
        SimulatorConfig(host=host, port=port, seed=seed, time_factor=time_factor)
    )
    address = await sim.start()
    settle_heap()
    print(f"carrier simulator (SMPP SMSC) listening on {address[0]}:{address[1]}", flush=True)
    control: uvicorn.Server | None = None
    control_task: asyncio.Task[None] | None = None
    if control_port is not None:
        control = _SignalFreeServer(
            uvicorn.Config(
                ControlApp(sim),
                host=host,
                port=control_port,
                lifespan="off",
                access_log=False,
                log_level="warning",
            )
        )
        control_task = asyncio.create_task(control.serve())
        while not control.started and not control_task.done():  # noqa: ASYNC110 - no event
            await asyncio.sleep(0.01)
        if control.started:
            bound = control.servers[0].sockets[0].getsockname()
            print(f"simulator control on http://{bound[0]}:{bound[1]}/stats", flush=True)
    try:
        await _wait_for_signal()
    finally:
        if control is not None and control_task is not None:
            control.should_exit = True
            await control_task
        await sim.stop()


class _SignalFreeServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the command that runs it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _wait_for_signal() -> None:
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
