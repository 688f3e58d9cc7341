"""Operator commands of the delivery engine: connectors, routes, maintenance, carriers,
``todoke worker`` and ``todoke simulator``."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime
from todoke.domain import phone
from todoke.domain.carrier import Carrier
from todoke.domain.routing import (
    ConnectorConfig,
    MaintenanceWindow,
    WindowEffect,
    carrier_names,
)
from todoke.errors import TodokeError

connectors_app = typer.Typer(no_args_is_help=True, help="SMPP connections to carrier SMSCs")
routes_app = typer.Typer(no_args_is_help=True, help="Which connectors serve which carrier")
maintenance_app = typer.Typer(no_args_is_help=True, help="Carrier maintenance windows")
carriers_app = typer.Typer(no_args_is_help=True, help="Carrier data (ported numbers)")


def _parse_carrier(value: str) -> str:
    value = value.strip().lower()
    if value in carrier_names():
        return value
    try:
        return Carrier.from_id(value).value
    except ValueError:
        fail(f"unknown carrier {value!r}: one of {', '.join(carrier_names())} or 101/103/105/106")
        raise  # unreachable


def _parse_time(value: str) -> int:
    from todoke.services.messages import to_ms

    try:
        return to_ms(datetime.fromisoformat(value))
    except ValueError:
        fail(f"not an ISO 8601 time: {value!r} (JST when it has no offset)")
        raise


@connectors_app.command("add")
def connectors_add(
    name: Annotated[str, typer.Argument(help="Connector name")],
    smpp: Annotated[str, typer.Option("--smpp", help="HOST:PORT of the SMSC")],
    system_id: Annotated[str, typer.Option("--system-id")],
    password: Annotated[str, typer.Option("--password")],
    system_type: Annotated[str, typer.Option("--system-type")] = "",
    window: Annotated[int, typer.Option(help="Outstanding requests", min=1, max=1000)] = 10,
    tps: Annotated[
        float | None, typer.Option(help="Submissions per second (none: unlimited)")
    ] = None,
    gsm7_packed: Annotated[bool, typer.Option("--gsm7-packed")] = False,
    concat_ref16: Annotated[bool, typer.Option("--concat-ref16")] = False,
    database_url: DbOpt = None,
) -> None:
    """Add an SMPP connector. With one configured, serve no longer starts the simulator."""
    host, _, port = smpp.rpartition(":")
    if not host or not port.isdigit():
        fail("--smpp must be HOST:PORT")
    options: dict[str, Any] = {}
    if gsm7_packed:
        options["gsm7_packed"] = True
    if concat_ref16:
        options["concat_ref16"] = True
    config = ConnectorConfig(
        name=name,
        host=host,
        port=int(port),
        system_id=system_id,
        password=password,
        system_type=system_type,
        window=window,
        tps=tps,
        options=options,
    )

    async def action(rt: Any) -> None:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        await RoutingStore(rt.db).add_connector(config, now=now_ms())

    try:
        run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json(config.public())


@connectors_app.command("list")
def connectors_list(database_url: DbOpt = None) -> None:
    """List connectors (never their passwords)."""

    async def action(rt: Any) -> list[dict[str, Any]]:
        from todoke.store.routing import RoutingStore

        return [c.public() for c in await RoutingStore(rt.db).list_connectors()]

    print_json(run(lambda: with_runtime(settings_from(database_url=database_url), action)))


@connectors_app.command("remove")
def connectors_remove(name: str, database_url: DbOpt = None) -> None:
    """Remove a connector and its places in routes."""

    async def action(rt: Any) -> None:
        from todoke.store.routing import RoutingStore

        await RoutingStore(rt.db).remove_connector(name)

    try:
        run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    typer.echo(f"removed {name}")


@routes_app.command("set")
def routes_set(
    carrier: Annotated[str, typer.Option(help="all|docomo|au|softbank|rakuten (or 101…106)")],
    connector: Annotated[str, typer.Option(help="Primary connector")],
    fallback: Annotated[
        list[str] | None, typer.Option(help="Failover connector(s), in order")
    ] = None,
    client_id: Annotated[int | None, typer.Option("--client-id", help="Only this account")] = None,
    database_url: DbOpt = None,
) -> None:
    """Route a carrier (or all) to a connector, with optional failover connectors."""
    names = [connector, *(fallback or [])]
    carrier_value = _parse_carrier(carrier)

    async def action(rt: Any) -> None:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        await RoutingStore(rt.db).set_route(
            account_id=client_id, carrier=carrier_value, connector_names=names, now=now_ms()
        )

    try:
        run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json({"clientId": client_id, "carrier": carrier_value, "connectors": names})


@routes_app.command("list")
def routes_list(database_url: DbOpt = None) -> None:
    """List routes."""

    async def action(rt: Any) -> list[dict[str, Any]]:
        from todoke.store.routing import RoutingStore

        return [
            {"clientId": r.account_id, "carrier": r.carrier, "connectors": list(r.connectors)}
            for r in await RoutingStore(rt.db).list_routes()
        ]

    print_json(run(lambda: with_runtime(settings_from(database_url=database_url), action)))


def _window_json(w: MaintenanceWindow) -> dict[str, Any]:
    from todoke.api.v1.schemas import iso

    return {
        "id": w.id,
        "carrier": w.carrier,
        "channel": w.channel,
        "start": iso(w.starts_at),
        "end": iso(w.ends_at),
        "effect": w.effect.value,
        "state": w.state.value,
        "fallbackConnector": w.fallback_connector,
        "note": w.note,
    }


@maintenance_app.command("add")
def maintenance_add(
    carrier: Annotated[str, typer.Option(help="all|docomo|au|softbank|rakuten")],
    start: Annotated[str, typer.Option(help="ISO 8601 (JST without offset)")],
    end: Annotated[str, typer.Option(help="ISO 8601 (JST without offset)")],
    effect: Annotated[
        WindowEffect, typer.Option(help="hold | refuse | fallback")
    ] = WindowEffect.HOLD,
    channel: Annotated[str, typer.Option(help="sms | rcs")] = "sms",
    fallback_connector: Annotated[str | None, typer.Option("--fallback-connector")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    database_url: DbOpt = None,
) -> None:
    """Plan a maintenance window."""
    starts, ends = _parse_time(start), _parse_time(end)
    if ends <= starts:
        fail("--end must be after --start")
    if channel not in ("sms", "rcs"):
        fail("--channel must be sms or rcs")
    window = MaintenanceWindow(
        id=0,
        carrier=_parse_carrier(carrier),
        channel=channel,
        starts_at=starts,
        ends_at=ends,
        effect=effect,
        fallback_connector=fallback_connector,
        note=note,
    )

    async def action(rt: Any) -> MaintenanceWindow:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        return await RoutingStore(rt.db).add_window(window, now=now_ms())

    print_json(
        _window_json(run(lambda: with_runtime(settings_from(database_url=database_url), action)))
    )


@maintenance_app.command("list")
def maintenance_list(database_url: DbOpt = None) -> None:
    """List maintenance windows, planned, changed and cancelled."""

    async def action(rt: Any) -> list[MaintenanceWindow]:
        from todoke.store.routing import RoutingStore

        return await RoutingStore(rt.db).list_windows()

    found = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    print_json([_window_json(w) for w in found])


@maintenance_app.command("cancel")
def maintenance_cancel(window_id: int, database_url: DbOpt = None) -> None:
    """Cancel a window; messages it holds are released at once."""

    async def action(rt: Any) -> MaintenanceWindow:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        return await RoutingStore(rt.db).cancel_window(window_id, now=now_ms())

    try:
        print_json(
            _window_json(
                run(lambda: with_runtime(settings_from(database_url=database_url), action))
            )
        )
    except TodokeError as exc:
        fail(exc.message)


@maintenance_app.command("change")
def maintenance_change(
    window_id: int,
    start: Annotated[str, typer.Option()],
    end: Annotated[str, typer.Option()],
    database_url: DbOpt = None,
) -> None:
    """Move a window (its state becomes ``changed``)."""
    starts, ends = _parse_time(start), _parse_time(end)

    async def action(rt: Any) -> MaintenanceWindow:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        return await RoutingStore(rt.db).change_window(
            window_id, starts_at=starts, ends_at=ends, now=now_ms()
        )

    try:
        print_json(
            _window_json(
                run(lambda: with_runtime(settings_from(database_url=database_url), action))
            )
        )
    except TodokeError as exc:
        fail(exc.message)


def read_ported(path: Path) -> Iterator[tuple[str, str]]:
    """Rows ``number,carrier`` (carrier as name or id); a header line is skipped."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row or not row[0].strip():
                continue
            if lineno == 1 and not any(ch.isdigit() for ch in row[0]):
                continue  # header
            if len(row) < 2:
                raise ValueError(f"line {lineno}: expected number,carrier")
            try:
                number = phone.normalize(row[0])
            except TodokeError as exc:
                raise ValueError(f"line {lineno}: {exc.message}") from exc
            carrier = row[1].strip().lower()
            if carrier not in [c.value for c in Carrier]:
                try:
                    carrier = Carrier.from_id(carrier).value
                except ValueError:
                    raise ValueError(f"line {lineno}: unknown carrier {row[1]!r}") from None
            yield number, carrier


@carriers_app.command("import-ported")
def carriers_import_ported(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV: number,carrier")],
    database_url: DbOpt = None,
) -> None:
    """Import ported numbers (MNP): their carrier wins over the number block's."""
    try:
        pairs = list(read_ported(file))
    except ValueError as exc:
        fail(str(exc))

    async def action(rt: Any) -> int:
        from todoke.services.messages import now_ms
        from todoke.store.routing import RoutingStore

        return await RoutingStore(rt.db).import_ported(pairs, now=now_ms())

    count = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    print_json({"imported": count})


def worker(database_url: DbOpt = None) -> None:
    """Run dispatch workers only (no HTTP API): more processes or machines on one PostgreSQL."""
    from todoke.server import run_worker

    run(lambda: run_worker(settings_from(database_url=database_url)))


def simulator(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 2775,
    seed: Annotated[int, typer.Option()] = 0,
    time_factor: Annotated[float, typer.Option("--time-factor")] = 0.01,
    control_port: Annotated[
        int | None,
        typer.Option(
            "--control-port",
            help="Serve GET /stats and the drills (POST /disconnect, /restart, /maintenance) "
            "over HTTP on this port (0: a free one)",
        ),
    ] = None,
) -> None:
    """Run the carrier simulator (an SMPP SMSC) alone."""
    from todoke.server import run_simulator

    run(lambda: run_simulator(host, port, seed, time_factor, control_port))
