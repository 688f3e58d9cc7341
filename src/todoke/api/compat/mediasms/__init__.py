"""The MediaSMS-API façade (seeds/003): a customer of that provider switches by changing the
host. Same paths (``/api/``, ``/api3/``, ``/api5/``, ``/cancelapi/``), parameters, Basic or
parameter authentication and code-only answers, on the same services as ``/v1``.

docs/compat/mediasms.md has the coverage table and the migration steps.
"""

from __future__ import annotations

from litestar import Router

from todoke.api.compat.mediasms.edge import EXCEPTION_HANDLERS
from todoke.api.compat.mediasms.results import cancel_api, result_api, result_csv_api
from todoke.api.compat.mediasms.send import send_api, send_csv_api


def mediasms_router() -> Router:
    """Every MediaSMS path, with the façade's own exception handlers (codes, never JSON)."""
    return Router(
        path="/",
        route_handlers=[send_api, send_csv_api, result_api, result_csv_api, cancel_api],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
