"""The MediaSMS response codes (seeds/003, レスポンス一覧) and the one place where todoke's
error tree becomes them.

MediaSMS answers with the code only (※レスポンスはコードのみを返します). The HTTP status that
goes with each code:

* codes that are HTTP statuses go out as that status: 200, 401 (with a Basic challenge), 402,
  405, 414, 503 (with Retry-After);
* the service's own codes (514, 550, 555, 560-643) go out with HTTP 200: the body carries the
  outcome, as MediaSMS clients read it, and an HTTP 5xx would make common clients resend a
  request that can never succeed. Nothing was stored for any of them;
* an unexpected internal error is code 550 with HTTP 500 (retry may help).

The codes beyond the seed's excerpt (405, 514, 612-614, 615, 640-643) are those that public
MediaSMS client libraries map; docs/compat/mediasms.md lists each with why.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from todoke import errors

OK: Final = 200
AUTH: Final = 401
OVER_LIMIT: Final = 402
METHOD: Final = 405
URL_TOO_LONG: Final = 414
UNAVAILABLE: Final = 503
NOT_FOUND: Final = 514  # SMS doesn't exist (result fetch, cancel)
FAILURE: Final = 550
IP_BLOCKED: Final = 555
MOBILE_NUMBER: Final = 560
START_DATE: Final = 562
AU_TITLE: Final = 568
SOFTBANK_TITLE: Final = 569
TEXT_ID: Final = 570
SENDING_ATTEMPTS: Final = 571
RESENDING_INTERVAL: Final = 572
STATUS: Final = 573
SMS_ID: Final = 574
DOCOMO: Final = 575
AU: Final = 576
SOFTBANK: Final = 577
GATEWAY: Final = 579
SMS_TITLE: Final = 580
SMS_TEXT: Final = 585
SMS_ID_NOT_UNIQUE: Final = 587
ORIGINAL_URL: Final = 590
TEXT_TYPE: Final = 591
TIME: Final = 592
CSV: Final = 596
ENCODING: Final = 597
DOCOMO_TITLE: Final = 598
ORIGINAL_URL_2: Final = 612
ORIGINAL_URL_3: Final = 613
ORIGINAL_URL_4: Final = 614
JSON_FORMAT: Final = 615
ORIGINAL_URL_CODE: Final = 640
ORIGINAL_URL_CODE_2: Final = 641
ORIGINAL_URL_CODE_3: Final = 642
ORIGINAL_URL_CODE_4: Final = 643

# The seed's 概要 of each code (and the public vocabulary's for the codes beyond it).
DESCRIPTIONS: Final[Mapping[int, str]] = MappingProxyType(
    {
        OK: "Success",
        AUTH: "Authorization Required",
        OVER_LIMIT: "Failed to send SMS due the Overlimit",
        METHOD: "Method not allowed",
        URL_TOO_LONG: "URL is longer than 8190 bytes",
        UNAVAILABLE: "Temporary unavailable",
        NOT_FOUND: "SMS doesn't exist",
        FAILURE: "Failure",
        IP_BLOCKED: "Your IP address has been blocked",
        MOBILE_NUMBER: "Mobile number is invalid",
        START_DATE: "Start date is invalid",
        AU_TITLE: "Au SMS title is invalid",
        SOFTBANK_TITLE: "Softbank SMS title is invalid",
        TEXT_ID: "SMS text ID is invalid",
        SENDING_ATTEMPTS: "Sending attempts is invalid",
        RESENDING_INTERVAL: "Resending interval is invalid.",
        STATUS: "Status is invalid",
        SMS_ID: "SMS ID is invalid",
        DOCOMO: "Docomo is invalid",
        AU: "au is invalid",
        SOFTBANK: "Soft Bank is invalid",
        GATEWAY: "Gateway is invalid",
        SMS_TITLE: "SMS title is invalid",
        SMS_TEXT: "SMS text is invalid",
        SMS_ID_NOT_UNIQUE: "SMS ID is not unique",
        ORIGINAL_URL: "Original URL is invalid",
        TEXT_TYPE: "SMS text type is disabled.",
        TIME: "Time is disabled",
        CSV: "CSV is disabled.",
        ENCODING: "Encoding is disabled",
        DOCOMO_TITLE: "Docomo SMS title is invalid",
        ORIGINAL_URL_2: "Original URL 2 is invalid",
        ORIGINAL_URL_3: "Original URL 3 is invalid",
        ORIGINAL_URL_4: "Original URL 4 is invalid",
        JSON_FORMAT: "Incorrect JSON format",
        ORIGINAL_URL_CODE: "Original URL code is invalid",
        ORIGINAL_URL_CODE_2: "Original URL code 2 is invalid",
        ORIGINAL_URL_CODE_3: "Original URL code 3 is invalid",
        ORIGINAL_URL_CODE_4: "Original URL code 4 is invalid",
    }
)

# The parameter (or the core's own field name) an InvalidInput names -> its code.
FIELD_CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "mobilenumber": MOBILE_NUMBER,
        "to": MOBILE_NUMBER,
        "senddatetime": START_DATE,
        "scheduleAt": START_DATE,
        "autitle": AU_TITLE,
        "softbanktitle": SOFTBANK_TITLE,
        "smstextid": TEXT_ID,
        "sendingattempts": SENDING_ATTEMPTS,
        "resendinginterval": RESENDING_INTERVAL,
        "status": STATUS,
        "smsid": SMS_ID,
        "clientTag": SMS_ID,
        "docomo": DOCOMO,
        "au": AU,
        "softbank": SOFTBANK,
        "gateway": GATEWAY,
        "smstitle": SMS_TITLE,
        "smstext": SMS_TEXT,
        "text": SMS_TEXT,
        "originalurl": ORIGINAL_URL,
        "originalurl2": ORIGINAL_URL_2,
        "originalurl3": ORIGINAL_URL_3,
        "originalurl4": ORIGINAL_URL_4,
        "originalurlcode": ORIGINAL_URL_CODE,
        "originalurlcode2": ORIGINAL_URL_CODE_2,
        "originalurlcode3": ORIGINAL_URL_CODE_3,
        "originalurlcode4": ORIGINAL_URL_CODE_4,
        "smstexttype": TEXT_TYPE,
        "file": CSV,
        "encode": ENCODING,
        "docomotitle": DOCOMO_TITLE,
        "json": JSON_FORMAT,
        "startdatetime": START_DATE,
        "enddatetime": START_DATE,
    }
)

# Codes that are HTTP statuses; every other code travels with HTTP 200.
_HTTP_STATUS: Final[Mapping[int, int]] = MappingProxyType(
    {OK: 200, AUTH: 401, OVER_LIMIT: 402, METHOD: 405, URL_TOO_LONG: 414, UNAVAILABLE: 503}
)


def http_status(code: int) -> int:
    """The HTTP status that accompanies ``code`` (see the module docstring)."""
    return _HTTP_STATUS.get(code, 200)


def code_for(exc: BaseException) -> int:
    """The MediaSMS code of a todoke error (550 for anything unexpected)."""
    if isinstance(exc, errors.InvalidInput):
        if exc.field in ("senddatetime", "scheduleAt") and exc.code in ("past_time", "too_far"):
            return TIME  # a well-formed time that cannot be used
        field = exc.field or ""
        if field.startswith("links.URL"):  # the link service, on {URL}..{URL4}
            kind = "originalurlcode" if exc.code == "invalid_access_code" else "originalurl"
            return FIELD_CODES.get(kind + field.removeprefix("links.URL"), FAILURE)
        if field == "templateId" or field.startswith("templateParams"):
            return TEXT_ID  # the template service
        return FIELD_CODES.get(field, FAILURE)
    if isinstance(exc, errors.DuplicateClientTag):
        return SMS_ID_NOT_UNIQUE
    if isinstance(exc, errors.NotFound):
        return NOT_FOUND
    if isinstance(exc, errors.IpBlocked):
        return IP_BLOCKED
    if isinstance(exc, errors.AuthError):  # Unauthenticated, Forbidden (IP allowlist)
        return AUTH
    if isinstance(exc, errors.RateLimited):
        return UNAVAILABLE
    if isinstance(exc, errors.QuotaExceeded):
        return OVER_LIMIT
    if isinstance(exc, errors.ServiceUnavailable | errors.MaintenanceRefused):
        return UNAVAILABLE
    return FAILURE


def http_status_for(exc: BaseException) -> int:
    """The HTTP status of an error's answer: that of its code, except for the two cases
    where the code alone would hide what HTTP clients and proxies should see."""
    if isinstance(exc, errors.Forbidden) and not isinstance(exc, errors.IpBlocked):
        return 403  # code 401 (認証エラー): the credentials are refused from this address
    if not isinstance(exc, errors.TodokeError):
        return 500  # code 550: an unexpected failure; a retry may succeed
    return http_status(code_for(exc))
