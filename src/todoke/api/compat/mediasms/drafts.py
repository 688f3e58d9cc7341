"""MediaSMS sends as drafts of the shared :class:`~todoke.services.compose.Composer`.

Templates (``smstextid``) and tracked short links (``originalurl*`` at ``{URL}``..``{URL4}``,
``originalurlcode*`` asked before the redirect) are the platform's template and link services,
the same as ``/v1`` and the 絶対リーチ! façade use; a MediaSMS send goes through the same
composer and :class:`~todoke.services.messages.MessageService` as a ``/v1`` send:

* ``smstextid`` names a template by its per-account ``number`` (``/v1/templates`` shows and
  sets it). MediaSMS has no template parameters: a template with ``{{name}}`` parameters
  cannot be sent from here (570). Its MediaSMS tags (``{info1}``..``{memo}``, ``{URL}``..)
  are filled like those of ``smstext``.
* Each ``{URL…}`` of the text becomes a per-message short link (its own code, so a click
  tells which message was opened); a URL whose placeholder is not in the text is unused.
* The MediaSMS length rules (Shift_JIS bytes, 70 characters) apply to the text with the
  short URLs in it. :func:`draft_of` checks them first with sample URLs of the same length
  (a text that would be too long is refused before any link is made, with its row's number
  in a CSV report), and the composer checks the real final text again before storing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from todoke.api.compat.mediasms.params import LinkSpec, check_text
from todoke.domain.carrier import Carrier
from todoke.domain.links import render_placeholders
from todoke.domain.message import Account
from todoke.errors import InvalidInput
from todoke.services.compose import Draft
from todoke.services.links import LinkTarget
from todoke.services.messages import SendRequest
from todoke.services.templates import Template, TemplateService


def template_body(template: Template | None, number: int) -> str:
    """The text of template ``number`` for a MediaSMS send; 570 (``smstextid``) when the
    account has no such template or the template needs parameter values."""
    if template is None:
        raise InvalidInput(f"no template {number}", field="smstextid")
    try:
        return TemplateService.render(template, {}, template_id=template.id)
    except InvalidInput as exc:
        raise InvalidInput(
            f"template {number} has {{{{parameters}}}}, which MediaSMS cannot fill: {exc.message}",
            field="smstextid",
        ) from None


async def template_text(templates: TemplateService, account: Account, number: int) -> str:
    """The text of the account's template ``number`` (see :func:`template_body`)."""
    return template_body(await templates.by_number(account, number), number)


def link_targets(links: Sequence[LinkSpec], body: str) -> dict[str, LinkTarget]:
    """Placeholder name -> link, for the ``originalurl*`` whose ``{URL…}`` is in ``body``."""
    return {
        link.placeholder[1:-1]: LinkTarget(long_url=link.url, access_code=link.access_code)
        for link in links
        if link.placeholder in body
    }


def text_rule(*, long_message: bool, carrier: Carrier | None) -> Callable[[str], None]:
    """The MediaSMS ``smstext`` rules (585) for the final text of one message."""

    def check(final: str) -> None:
        check_text(final, long_message=long_message, carrier=carrier)

    return check


def draft_of(
    request: SendRequest,
    links: Sequence[LinkSpec],
    *,
    rule: Callable[[str], None],
    sample_url: str,
) -> Draft:
    """The composer's draft of one MediaSMS message whose ``request.text`` is resolved
    (template and tags filled). Raises ``InvalidInput`` (585) when the text breaks the rules
    once its short URLs are in."""
    targets = link_targets(links, request.text)
    if not targets:
        rule(request.text)  # final already: a plain send
        return Draft(request)
    rule(render_placeholders(request.text, dict.fromkeys(targets, sample_url)))
    return Draft(request, links=targets, check=rule)
