"""Operator commands of the outcomes: ``todoke webhooks …`` and ``todoke usage``."""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

import typer

from todoke.cli_common import DbOpt, fail, print_json, run, settings_from, with_runtime
from todoke.errors import TodokeError

webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints, deliveries, replay")


def _endpoint_json(ep: Any, *, secret: bool = False) -> dict[str, Any]:
    out = {
        "id": ep.id,
        "clientId": ep.account_id,
        "url": ep.url,
        "events": list(ep.events),
        "format": ep.format,
        "enabled": ep.enabled,
        "basicAuthUser": ep.basic_user,
        "failing": ep.failing_since is not None,
        "flagged": ep.flagged_at is not None,
    }
    if secret:
        out["secret"] = ep.secret
    return out


def _service(rt: Any) -> Any:
    return rt.services.webhooks


@webhooks_app.command("add")
def webhooks_add(
    client_id: Annotated[int, typer.Option("--client-id", help="The account (clientId)")],
    url: Annotated[str, typer.Option(help="http(s) URL that receives the events")],
    events: Annotated[
        str | None, typer.Option(help="Comma-separated event types (default: all)")
    ] = None,
    format: Annotated[str, typer.Option(help="Request format (standard, or a façade's)")] = (
        "standard"
    ),
    basic_user: Annotated[str | None, typer.Option("--basic-user")] = None,
    basic_password: Annotated[str | None, typer.Option("--basic-password")] = None,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts")] = None,
    max_age_seconds: Annotated[int | None, typer.Option("--max-age-seconds")] = None,
    timeout_ms: Annotated[int | None, typer.Option("--timeout-ms")] = None,
    database_url: DbOpt = None,
) -> None:
    """Add an endpoint to an account; prints it with its signing secret."""

    async def action(rt: Any) -> Any:
        return await _service(rt).create(
            client_id,
            url,
            events=[e.strip() for e in events.split(",") if e.strip()] if events else None,
            format=format,
            basic_user=basic_user,
            basic_password=basic_password,
            max_attempts=max_attempts,
            max_age_seconds=max_age_seconds,
            timeout_ms=timeout_ms,
        )

    try:
        ep = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json(_endpoint_json(ep, secret=True))


@webhooks_app.command("list")
def webhooks_list(
    client_id: Annotated[int | None, typer.Option("--client-id", help="Only this account")] = None,
    database_url: DbOpt = None,
) -> None:
    """List endpoints (every account's without --client-id); secrets are not shown."""

    async def action(rt: Any) -> Any:
        return await _service(rt).endpoints(client_id)

    found = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    print_json([_endpoint_json(ep) for ep in found])


@webhooks_app.command("remove")
def webhooks_remove(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id")], database_url: DbOpt = None
) -> None:
    """Remove an endpoint with its pending and dead deliveries."""

    async def action(rt: Any) -> None:
        owner = await rt.outcomes.webhooks.store.endpoint_owner(endpoint_id)
        await _service(rt).delete(owner, endpoint_id)

    try:
        run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    typer.echo(f"removed {endpoint_id}")


@webhooks_app.command("replay")
def webhooks_replay(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id")],
    since: Annotated[
        str | None, typer.Option(help="Events created from (date or ISO time)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events created before (date or ISO)")] = None,
    database_url: DbOpt = None,
) -> None:
    """Send an endpoint's dead-lettered events again (the worker delivers them)."""
    from todoke.services.reports import parse_moment

    async def action(rt: Any) -> int:
        count: int = await _service(rt).replay(
            None,
            endpoint_id,
            since=parse_moment(since, "since", end=False) if since else None,
            until=parse_moment(until, "until", end=True) if until else None,
        )
        return count

    try:
        count = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json({"endpoint": endpoint_id, "replayed": count})


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: Annotated[str, typer.Argument(help="Endpoint id")],
    state: Annotated[
        str | None, typer.Option(help="queued, pending, delivered, dead or skipped")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database_url: DbOpt = None,
) -> None:
    """An endpoint's deliveries, newest first."""

    async def action(rt: Any) -> Any:
        owner = await rt.outcomes.webhooks.store.endpoint_owner(endpoint_id)
        return await _service(rt).deliveries(owner, endpoint_id, state=state, limit=limit)

    try:
        found = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json(
        [
            {
                "id": d.id,
                "event": d.event_id,
                "type": d.event_type,
                "state": d.state,
                "attempts": d.attempts,
                "lastStatus": d.last_status,
                "lastError": d.last_error,
                "messageId": d.message_id,
            }
            for d in found
        ]
    )


@webhooks_app.command("listen")
def webhooks_listen(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = 9000,
    secret: Annotated[str | None, typer.Option(help="whsec_… to verify signatures")] = None,
    status: Annotated[int, typer.Option(help="Status code to answer")] = 204,
) -> None:
    """Run a webhook receiver on loopback and print every request (for trying todoke out)."""
    import asyncio

    from todoke.webhook_receiver import Received, WebhookReceiver

    def show(r: Received) -> None:
        body: Any = r.payload if r.payload is not None else r.body.decode("utf-8", "replace")
        line = {"webhook-id": r.webhook_id, "verified": r.verified, "body": body}
        typer.echo(json.dumps(line, ensure_ascii=False))

    async def go() -> None:
        receiver = WebhookReceiver(secret=secret, port=port, status=status, on_request=show)
        url = await receiver.start()
        typer.echo(f"listening on {url} (Ctrl-C to stop)")
        try:
            await asyncio.Event().wait()
        finally:
            await receiver.stop()

    with contextlib.suppress(KeyboardInterrupt):
        run(go)


def usage(
    client_id: Annotated[int, typer.Option("--client-id", help="The account (clientId)")],
    month: Annotated[str | None, typer.Option(help="YYYYMM")] = None,
    date: Annotated[str | None, typer.Option(help="YYYYMMDD")] = None,
    database_url: DbOpt = None,
) -> None:
    """Usage counts of an account for a month or a day (sent, delivered, failed, parts)."""
    from dataclasses import asdict

    from todoke.services.reports import parse_day, parse_month

    if (month is None) == (date is None):
        fail("give --month YYYYMM or --date YYYYMMDD")

    async def action(rt: Any) -> Any:
        reports = rt.services.reports
        if month is not None:
            return await reports.month(client_id, parse_month(month))
        return await reports.day(client_id, parse_day(date or ""))

    try:
        period = run(lambda: with_runtime(settings_from(database_url=database_url), action))
    except TodokeError as exc:
        fail(exc.message)
    print_json({"clientId": client_id, **asdict(period)})
