"""Template numbers (what MediaSMS ``smstextid`` names): per account, given or the next one,
never handed out twice; and the migration that numbers existing templates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from tests.conftest import Tenant
from todoke.store.database import Database, alembic_config
from todoke.store.tables import template_counters, templates

pytestmark = pytest.mark.storage  # also runs on PostgreSQL (tests/conftest.py)

Client = httpx.AsyncClient


async def create(client: Client, who: Tenant, title: str, **extra: Any) -> httpx.Response:
    return await client.post(
        "/v1/templates", json={"title": title, "content": "本文", **extra}, headers=who.headers
    )


async def number_of(client: Client, who: Tenant, title: str, **extra: Any) -> int:
    r = await create(client, who, title, **extra)
    assert r.status_code == 201, r.text
    number: int = r.json()["number"]
    return number


async def test_numbers_are_given_or_next(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert await number_of(client, tenant, "a") == 1
    assert await number_of(client, tenant, "b") == 2
    assert await number_of(client, tenant, "old", number=500) == 500
    assert await number_of(client, tenant, "c") == 501
    assert await number_of(client, tenant, "low", number=0) == 0  # smstextid 0 is valid
    assert await number_of(client, other_tenant, "a") == 1  # per account
    # a number in use, or outside 0-999999, is refused
    r = await create(client, tenant, "dup", number=500)
    assert r.status_code == 409 and "500" in r.json()["error"]["message"]
    for bad in (-1, 1_000_000, 1.5, "x"):
        r = await create(client, tenant, "bad", number=bad)
        assert r.status_code == 400, (bad, r.text)
    listed = (await client.get("/v1/templates", headers=tenant.headers)).json()["templates"]
    assert {t["title"]: t["number"] for t in listed} == {
        "a": 1,
        "b": 2,
        "old": 500,
        "c": 501,
        "low": 0,
    }


async def test_a_deleted_number_is_not_handed_out_again(client: Client, tenant: Tenant) -> None:
    await number_of(client, tenant, "a")
    r = await create(client, tenant, "b")
    assert r.json()["number"] == 2
    assert (
        await client.delete(f"/v1/templates/{r.json()['id']}", headers=tenant.headers)
    ).status_code == 204
    # the highest was deleted: the next one is still 3, so smstextid=2 never names a new text
    assert await number_of(client, tenant, "c") == 3
    # given explicitly, a freed number can be taken again (the operator's choice)
    assert await number_of(client, tenant, "b again", number=2) == 2


async def test_number_can_be_changed(client: Client, tenant: Tenant) -> None:
    r = await create(client, tenant, "a")
    tid = r.json()["id"]
    await number_of(client, tenant, "b")
    r = await client.patch(f"/v1/templates/{tid}", json={"number": 2}, headers=tenant.headers)
    assert r.status_code == 409  # b has it
    r = await client.patch(f"/v1/templates/{tid}", json={"number": 90}, headers=tenant.headers)
    assert r.status_code == 200 and r.json()["number"] == 90
    r = await client.patch(f"/v1/templates/{tid}", json={"title": "A"}, headers=tenant.headers)
    assert r.json()["number"] == 90  # unchanged when not given
    assert await number_of(client, tenant, "c") == 91  # the counter follows the highest
    r = await client.patch("/v1/templates/nothing", json={"number": 5}, headers=tenant.headers)
    assert r.status_code == 404
    assert await number_of(client, tenant, "d") == 92  # the refused change took no number


async def test_migration_numbers_existing_templates(blank_database_url: str) -> None:
    """Templates made before 0008 get 1, 2, ... per account in creation order."""
    db = Database(blank_database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(_upgrade_to, "0006")
            await conn.execute(
                sa.text(
                    "INSERT INTO accounts (id, name, created_at) VALUES (1, 'a', 0), (2, 'b', 0)"
                )
            )
            for tid, account in (("01B", 1), ("01A", 1), ("01C", 2), ("01D", 1)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO templates (id, account_id, title, content, created_at,"
                        " updated_at) VALUES (:id, :account, :id, 'x', 0, 0)"
                    ),
                    {"id": tid, "account": account},
                )
        await db.migrate()
        async with db.engine.connect() as conn:
            numbers = dict(
                (await conn.execute(sa.select(templates.c.id, templates.c.number))).all()
            )
            counters = dict(
                (
                    await conn.execute(
                        sa.select(template_counters.c.account_id, template_counters.c.last_number)
                    )
                ).all()
            )
        assert numbers == {"01A": 1, "01B": 2, "01D": 3, "01C": 1}
        assert counters == {1: 3, 2: 1}
    finally:
        await db.dispose()


def _upgrade_to(sync_connection: sa.Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_connection
    command.upgrade(cfg, revision)
