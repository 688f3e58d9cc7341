"""Per-account settings of the 絶対リーチ! façade, kept in a side table (``zettai_settings``).

* ``dlr_url`` / ``dlr_format``: where DLR 通知(Common) is pushed, as ``json=`` or ``xml=``
  (the provider's customers choose the format when they apply; here the operator sets it).
* ``short_domain``: the account's own short-link domain (独自ドメインオプション); only this
  domain is accepted as ``domain`` by ``shortenurl.json`` and ``/v1/links``.
* ``agency_viewer_id``: the agency viewer (代理店参照者) who may read this account's counts
  with ``clientId=all``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from todoke.domain import links as link_rules
from todoke.domain.message import Account
from todoke.errors import InvalidInput
from todoke.services.messages import now_ms

DLR_FORMATS = ("json", "xml")


@dataclass(frozen=True, slots=True)
class ZettaiSettings:
    account_id: int
    dlr_url: str | None = None
    dlr_format: str = "json"
    short_domain: str | None = None
    agency_viewer_id: int | None = None


class AccountLookup(Protocol):
    async def get(self, account_id: int) -> Account: ...


class ZettaiSettingsStorePort(Protocol):
    async def get(self, account_id: int) -> ZettaiSettings | None: ...

    async def put(self, settings: ZettaiSettings, *, now: int) -> None: ...

    async def clients_of(self, viewer_id: int) -> list[int]: ...


_UNSET: object = object()


class ZettaiSettingsService:
    def __init__(self, store: ZettaiSettingsStorePort, accounts: AccountLookup) -> None:
        self._store = store
        self._accounts = accounts
        # Called with the new settings before they are stored (keeps the account's DLR push
        # endpoint in step, ``api/compat/push.py``); its refusal leaves them unchanged.
        self.on_change: Callable[[ZettaiSettings], Awaitable[object]] | None = None

    async def get(self, account_id: int) -> ZettaiSettings:
        """The account's settings (defaults when none were set)."""
        return await self._store.get(account_id) or ZettaiSettings(account_id)

    async def update(
        self,
        account_id: int,
        *,
        dlr_url: str | object | None = _UNSET,
        dlr_format: str | None = None,
        short_domain: str | object | None = _UNSET,
        agency_viewer_id: int | object | None = _UNSET,
    ) -> ZettaiSettings:
        """Change the given settings (``None`` or ``""`` clears one); the rest stay."""
        await self._accounts.get(account_id)  # NotFound for an unknown account
        current = await self.get(account_id)
        new = current
        if dlr_url is not _UNSET:
            new = replace(new, dlr_url=_dlr_url(dlr_url))
        if dlr_format is not None:
            if dlr_format not in DLR_FORMATS:
                raise InvalidInput("dlr format must be json or xml", field="dlrFormat")
            new = replace(new, dlr_format=dlr_format)
        if short_domain is not _UNSET:
            domain = str(short_domain) if short_domain else None
            new = replace(new, short_domain=link_rules.check_domain(domain) if domain else None)
        if agency_viewer_id is not _UNSET:
            new = replace(new, agency_viewer_id=await self._viewer(agency_viewer_id))
        if self.on_change is not None and (dlr_url is not _UNSET or dlr_format is not None):
            await self.on_change(new)  # also when unchanged: repairs a removed endpoint
        await self._store.put(new, now=now_ms())
        return new

    async def readable_accounts(self, viewer: Account) -> list[int]:
        """The accounts whose counts an agency viewer reads with ``clientId=all`` (its own
        and those that name it as their agency viewer)."""
        return sorted({viewer.id, *await self._store.clients_of(viewer.id)})

    async def _viewer(self, value: object) -> int | None:
        if value is None or value == "":
            return None
        if not isinstance(value, int):
            raise InvalidInput("agency viewer must be a clientId", field="agencyViewerId")
        viewer = await self._accounts.get(value)
        if not viewer.may_read_all:
            raise InvalidInput(
                f"account {value} is not an agency viewer (role agency_viewer)",
                field="agencyViewerId",
            )
        return value


def _dlr_url(value: object) -> str | None:
    if value is None or value == "":
        return None
    url = str(value)
    if len(url) > 2048 or not url.startswith(("http://", "https://")):
        raise InvalidInput(
            "dlr url must be an http(s) URL of at most 2048 characters", field="dlrUrl"
        )
    return url
