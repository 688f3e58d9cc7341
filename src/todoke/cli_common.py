"""Helpers shared by the CLI modules: settings from flags, running coroutines, output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from todoke.config import Settings

if TYPE_CHECKING:
    from todoke.app import Runtime

T = TypeVar("T")

DbOpt = Annotated[str | None, typer.Option("--database-url", help="Overrides TODOKE_DATABASE_URL")]


def settings_from(**overrides: Any) -> Settings:
    """The settings: environment and .env, then the flags that were given."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def run(coro: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine on uvloop (asyncio's loop where uvloop is missing)."""

    async def main() -> T:
        return await coro()

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        return asyncio.run(main())
    return uvloop.run(main())


async def with_runtime(settings: Settings, action: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the database (migrated), run ``action``, close."""
    from todoke.app import Runtime

    rt = Runtime(settings)
    await rt.start()
    try:
        return await action(rt)
    finally:
        await rt.stop()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
