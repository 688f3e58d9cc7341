"""CSV 投入方式: a multipart ``file`` of numbers (and per-row values) sent as one batch.

The file (the seed's common CSV format, shared with the result CSV) has one message per row:

====  ===================  ==================================================================
col   name                 use
====  ===================  ==================================================================
1     携帯番号             required; hyphens optional (090-1234-5678 or 09012345678)
2-5   info1..info4         values of the dynamic tags ``{info1}``..``{info4}``
6     memo                 value of ``{memo}``
7     クリック数           a result column; ignored when sending
8     テキストID           the template id when ``smstexttype=id``
9     SMS タイトル         ``smstitle`` of the row (used on international routes only)
10    SMS 本文             the text when ``smstexttype=csv``
11    smsid                optional, unique: for ``/api5/`` and the result push
====  ===================  ==================================================================

The text of every row is, in order: column 10 (``smstexttype=csv``), the template of column 8
(``smstexttype=id``), else the ``smstext`` / ``smstextid`` request parameter; then each
``{info1}``..``{info4}`` and ``{memo}`` is replaced by the row's value. A first row whose
column 1 holds no digit is a header and is skipped. Rows may have fewer columns.

Request parameters: ``encode`` (``utf8`` or ``shiftjis``; absent: detected, UTF-8 with or
without BOM, else Shift_JIS as Windows writes it, cp932), ``smstexttype`` (``csv`` | ``id``),
``smstext``/``smstextid``, ``status``, ``senddatetime``, ``originalurl*`` as in ``/api/``:
each row's ``{URL…}`` becomes its own tracked link (``drafts``).

The file is first decoded once (its encoding is settled before anything is stored), then
read once: every row is checked (a refused row gets its parameter's code) and the valid rows
are stored as held messages of one batch through the composer (each chunk's links, then its
messages), released together when the whole file has been read (``services/batches``: all
or nothing; memory stays at one chunk of rows, plus the account's templates when the file
names them). The answer::

    200                        (550 when no row is valid; 596/597/591 for the file itself)
    <batch id>                 (the csvid; empty when nothing was stored)
    <rows>|<failed>|<stored>
    <line>,<column 1>,<code>   one line per refused row, at most 10,000
"""

from __future__ import annotations

import asyncio
import codecs
import csv
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from litestar import Request, Response

from todoke.api.auth import services_of
from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.drafts import draft_of, template_body, text_rule
from todoke.api.compat.mediasms.edge import Params, answer
from todoke.api.compat.mediasms.params import (
    LinkSpec,
    check_placeholders,
    given,
    parse_datetime,
    parse_links,
    parse_mobilenumber,
    parse_smsid,
    parse_status,
    parse_text_id,
    parse_title,
)
from todoke.api.compat.mediasms.records import facade_data
from todoke.domain import phone, text
from todoke.domain.message import Account
from todoke.errors import InvalidInput, TodokeError
from todoke.services.compose import Draft
from todoke.services.mediasms import MediaSmsLogin
from todoke.services.messages import MessageService, SendRequest, now_ms
from todoke.services.templates import Template

CHUNK_ROWS = 1000  # rows per stored chunk (one group-commit transaction each)
MAX_REPORTED = 10_000  # refused rows listed in the answer
_YIELD_EVERY = 500  # rows between two yields to the event loop while validating
_TAGS = ("{info1}", "{info2}", "{info3}", "{info4}", "{memo}")
_ENCODINGS = {"utf8": "utf-8-sig", "utf-8": "utf-8-sig", "shiftjis": "cp932", "sjis": "cp932"}


@dataclass(slots=True)
class _Plan:
    """Batch-wide settings of a CSV send."""

    text_type: str | None  # csv | id | None (the request's smstext / smstextid)
    body: str | None
    text_id: int | None
    notify: bool
    schedule_at: Any
    links: tuple[LinkSpec, ...]
    encoding: str | None  # None: detect
    sample_url: str  # as long as a short link's URL (the text rules are checked with it)
    # The account's templates by number, read once when the first row needs one (at most
    # MAX_TEMPLATES_PER_ACCOUNT, so memory stays bounded whatever the file holds).
    templates: dict[int, Template] | None = None


@dataclass(slots=True)
class _Report:
    rows: int = 0
    refused: list[tuple[int, str, int]] = field(default_factory=list)  # (line, number, code)
    refused_count: int = 0

    @property
    def rejected(self) -> int:
        return self.refused_count

    def refuse(self, line: int, number: str, code: int) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REPORTED:
            self.refused.append((line, number, code))


def _plan(values: dict[str, str], sample_url: str) -> _Plan:
    text_type = given(values, "smstexttype")
    if text_type is not None and text_type not in ("csv", "id"):
        raise InvalidInput("smstexttype must be csv or id", field="smstexttype")
    encode = given(values, "encode")
    if encode is not None and encode.lower() not in _ENCODINGS:
        raise InvalidInput("encode must be utf8 or shiftjis", field="encode")
    body = given(values, "smstext")
    text_id = parse_text_id(given(values, "smstextid"))
    if body is not None and text_id is not None:
        raise InvalidInput("smstextid and smstext exclude each other", field="smstextid")
    notify = parse_status(given(values, "status"))
    links = parse_links(values, None)
    schedule_at = parse_datetime(given(values, "senddatetime"), "senddatetime")
    if schedule_at is not None:
        # Settled once for the file, with the message service's own rule (past, too far).
        MessageService.check_schedule(schedule_at, now_ms())
    return _Plan(
        text_type=text_type,
        body=body,
        text_id=text_id,
        notify=notify,
        schedule_at=schedule_at,
        links=links,
        encoding=_ENCODINGS[encode.lower()] if encode else None,
        sample_url=sample_url,
    )


def _rows(stream: IO[bytes], encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, columns) of every non-empty row; the header row is skipped."""
    stream.seek(0)
    reader = codecs.getreader(encoding)(stream, "strict")
    first = True
    for index, row in enumerate(csv.reader(reader), start=1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if first:
            first = False
            if not any(ch.isdigit() for ch in row[0]):
                continue  # a header row
        yield index, [cell.strip() for cell in row]


def _col(row: Sequence[str], number: int) -> str:
    return row[number - 1] if len(row) >= number else ""


async def _row_request(
    request: Request[Any, Any, Any],
    login: MediaSmsLogin,
    plan: _Plan,
    row: Sequence[str],
) -> Draft:
    """The draft of one row (its links are made when its chunk is stored); raises
    ``InvalidInput`` naming the parameter."""
    to = parse_mobilenumber(_col(row, 1) or None)
    text_id: int | None = None
    if plan.text_type == "csv":
        body: str | None = _col(row, 10) or None
    elif plan.text_type == "id":
        text_id = parse_text_id(_col(row, 8) or None)
        if text_id is None:
            raise InvalidInput("column 8 (template id) is empty", field="smstextid")
        body = await _template(request, login.account, plan, text_id)
    elif plan.text_id is not None:
        text_id = plan.text_id
        body = await _template(request, login.account, plan, text_id)
    else:
        body = plan.body
    if body is None:
        raise InvalidInput("the row has no text", field="smstext")
    for number, tag in enumerate(_TAGS, start=2):
        if tag in body:
            body = body.replace(tag, _col(row, number))
    titles = {}
    if title := _col(row, 9):
        titles["smstitle"] = parse_title(title, "smstitle")
    smsid = parse_smsid(_col(row, 11) or None, required=plan.notify)
    check_placeholders(body, plan.links)
    return draft_of(
        SendRequest(
            to=to,
            text=body,
            client_tag=smsid,
            schedule_at=plan.schedule_at,
            max_characters=text.MEDIASMS_LONG_BYTES,
            facade_data=facade_data(
                plan.notify,
                smsid=smsid,
                titles=titles,
                info=[_col(row, n) for n in range(2, 7)],
                text_id=text_id,
            ),
        ),
        plan.links,
        rule=text_rule(long_message=login.profile.long_message, carrier=phone.carrier_of_block(to)),
        sample_url=plan.sample_url,
    )


async def _template(
    request: Request[Any, Any, Any], account: Account, plan: _Plan, number: int
) -> str:
    if plan.templates is None:
        every = await services_of(request).templates.list_all(account)
        plan.templates = {t.number: t for t in every}
    return template_body(plan.templates.get(number), number)


def _detect(stream: IO[bytes], declared: str | None) -> str:
    """The file's encoding: the declared one, else UTF-8 (BOM or not), else cp932. Decodes
    the file once, 64 KiB at a time, so a bad byte anywhere is found before any row is
    stored; ``InvalidInput`` (597) when it decodes in none of them."""
    for encoding in [declared] if declared else ["utf-8-sig", "cp932"]:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        stream.seek(0)
        try:
            while block := stream.read(65536):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    if declared:
        raise InvalidInput(f"the file is not {declared}", field="encode")
    raise InvalidInput("the file is neither UTF-8 nor Shift_JIS", field="encode")


async def _chunks(
    request: Request[Any, Any, Any],
    login: MediaSmsLogin,
    plan: _Plan,
    stream: IO[bytes],
    encoding: str,
    report: _Report,
) -> AsyncIterator[list[tuple[int, Draft]]]:
    """Check every row (refusals go to ``report``) and yield the valid ones in chunks."""
    seen_ids: set[str] = set()
    chunk: list[tuple[int, Draft]] = []
    for line, row in _rows(stream, encoding):
        report.rows += 1
        if report.rows % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let other requests run while a large file is read
        try:
            draft = await _row_request(request, login, plan, row)
        except InvalidInput as exc:
            report.refuse(line, _col(row, 1), codes.code_for(exc))
            continue
        if (smsid := draft.request.client_tag) is not None:
            if smsid in seen_ids:
                report.refuse(line, _col(row, 1), codes.SMS_ID_NOT_UNIQUE)
                continue
            seen_ids.add(smsid)
        chunk.append((line, draft))
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _answer(
    request: Request[Any, Any, Any],
    code: int,
    report: _Report,
    stored: int,
    batch_id: str | None,
    late: list[tuple[int, str, int]],
) -> Response[bytes]:
    refused = sorted(report.refused + late)[:MAX_REPORTED]
    lines = [
        batch_id or "",
        f"{report.rows}|{report.refused_count + len(late)}|{stored}",
        *(f"{line},{number},{c}" for line, number, c in refused),
    ]
    return answer(code, request, lines=lines, http_status=200)


async def send_csv(
    request: Request[Any, Any, Any], params: Params, login: MediaSmsLogin
) -> Response[bytes]:
    """Check the whole file and store its valid rows as one batch, released at the end."""
    if params.file is None:
        raise InvalidInput("a multipart part named file is required", field="file")
    plan = _plan(params.values, services_of(request).links.sample_url())
    stream: IO[bytes] = params.file.file
    encoding = _detect(stream, plan.encoding)
    batches = services_of(request).batches
    assert batches is not None
    report = _Report()
    try:
        loaded = await batches.load(
            login.account,
            _chunks(request, login, plan, stream, encoding, report),
            source="mediasms_csv",
            tally=report,
            filename=params.file.filename,
        )
    except csv.Error:
        raise InvalidInput("the file is not CSV", field="file") from None
    if report.rows == 0:
        raise InvalidInput("the file has no rows", field="file")
    late = [
        (line, "", codes.code_for(exc) if isinstance(exc, TodokeError) else codes.FAILURE)
        for line, exc in loaded.refused
    ]
    if loaded.batch is None:
        return _answer(request, codes.FAILURE, report, 0, None, late)
    code = codes.OK if loaded.batch.accepted else codes.FAILURE
    return _answer(request, code, report, loaded.batch.accepted, loaded.batch.id, late)
