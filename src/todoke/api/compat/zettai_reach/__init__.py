"""The 絶対リーチ!® SMS Communication Platform API 1.4.7 (CommonMT), served by todoke at the
same paths as the original (seeds/002, reference/zettai-reach-openapi-1.4.7.json)."""

from todoke.api.compat.zettai_reach.dlr import (
    DLR_RETRIES,
    DLR_TIMEOUT_SECONDS,
    dlr_event,
    dlr_payload,
    format_dlr,
    should_push,
)
from todoke.api.compat.zettai_reach.router import zettai_reach_router

__all__ = [
    "DLR_RETRIES",
    "DLR_TIMEOUT_SECONDS",
    "dlr_event",
    "dlr_payload",
    "format_dlr",
    "should_push",
    "zettai_reach_router",
]
