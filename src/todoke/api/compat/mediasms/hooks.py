"""Where the MediaSMS façade meets the shared template and short-link services.

Templates (``smstextid``) and tracked short links (``originalurl*`` inserted at
``{URL}``..``{URL4}``, with ``originalurlcode*`` access codes, a click reported as
リダイレクト) belong to the platform's link and template services, shared with the
絶対リーチ! façade and ``/v1``. The façade reaches them only through the two Protocols below;
``create_app`` puts a :class:`MediaSmsHooks` with adapters of those services in the app state
under ``"mediasms_hooks"``. Without one, the unwired defaults answer as an account without
templates or links would: ``smstextid`` is unknown (570) and ``originalurl*`` is refused (590,
612-614), so nothing is ever sent with a ``{URL}`` left in it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from litestar import Request

from todoke.api.compat.mediasms.params import LinkSpec
from todoke.domain.message import Account
from todoke.errors import InvalidInput

log = structlog.get_logger(__name__)


class Templates(Protocol):
    """定型文: the text of an account's template by its numeric id."""

    async def template_text(self, account: Account, template_id: int) -> str | None:
        """The template's text, or None when the account has no such template."""
        ...


@dataclass(frozen=True, slots=True)
class PreparedLinks:
    """Short links made for one message before it is stored.

    ``text`` is the message text with every ``{URL…}`` replaced by its short URL; ``handle``
    is whatever the link service needs to tie the links to the message once it has an id.
    """

    text: str
    handle: Any = None


class Links(Protocol):
    """Tracked short links with optional access codes (the shared link service)."""

    async def prepare(
        self, account: Account, text: str, links: Sequence[LinkSpec]
    ) -> PreparedLinks:
        """Create the links and insert them into ``text``. Raises ``InvalidInput`` with
        ``field`` = the ``originalurl…`` / ``originalurlcode…`` parameter it refuses."""
        ...

    async def attach(self, account: Account, prepared: PreparedLinks, message_id: str) -> None:
        """Tie the prepared links to the stored message (per-message click counts)."""
        ...

    async def clicked(self, account: Account, message_ids: Sequence[str]) -> Mapping[str, int]:
        """Clicks per message id (only ids with at least one click): shown as リダイレクト."""
        ...


class UnwiredTemplates:
    """No template service plugged in: every ``smstextid`` is unknown."""

    async def template_text(self, account: Account, template_id: int) -> str | None:
        log.warning("mediasms.templates_unwired", account=account.id)
        return None


class UnwiredLinks:
    """No link service plugged in: ``originalurl*`` is refused rather than sent untracked."""

    async def prepare(
        self, account: Account, text: str, links: Sequence[LinkSpec]
    ) -> PreparedLinks:
        log.warning("mediasms.links_unwired", account=account.id)
        first = links[0]
        raise InvalidInput(
            "tracked short links are not available on this server",
            field=f"originalurl{first.slot}",
            code="links_unavailable",
        )

    async def attach(self, account: Account, prepared: PreparedLinks, message_id: str) -> None:
        return None

    async def clicked(self, account: Account, message_ids: Sequence[str]) -> Mapping[str, int]:
        return {}


@dataclass(frozen=True, slots=True)
class MediaSmsHooks:
    """The template and link services the façade uses."""

    templates: Templates = field(default_factory=UnwiredTemplates)
    links: Links = field(default_factory=UnwiredLinks)


_DEFAULT = MediaSmsHooks()


def hooks_of(request: Request[Any, Any, Any]) -> MediaSmsHooks:
    hooks = request.app.state.get("mediasms_hooks")
    return hooks if isinstance(hooks, MediaSmsHooks) else _DEFAULT
