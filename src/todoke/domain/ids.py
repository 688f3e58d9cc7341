"""Identifiers: time-ordered, URL-safe, unguessable.

A message id is 26 Crockford base32 characters (48-bit millisecond timestamp, then 80 random
bits, like a ULID), so ids sort by creation time: cursor pagination and "newest first" listings
use the primary key and need no extra index.
"""

from __future__ import annotations

import base64
import os
import secrets
import string

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64.b32encode's alphabet (RFC 4648) mapped to Crockford's, digit by digit.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def time_ordered_id(now_ms: int) -> str:
    """A 26-character id that sorts after every id made in an earlier millisecond."""
    value = (now_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    # 26 base32 digits are 130 bits: shifted to fill 20 bytes, the first 26 of the 32 digits
    # base32 makes of them are the value's (the two top bits are zero).
    digits = base64.b32encode((value << 30).to_bytes(20, "big"))[:26]
    return digits.translate(_TO_CROCKFORD).decode("ascii")


def new_token() -> str:
    """An API token: 32 characters of [A-Za-z0-9] (~190 bits), the 絶対リーチ! token format."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(32))


def new_secret(nbytes: int = 24) -> str:
    """A random URL-safe secret (webhook signing keys, passwords)."""
    return secrets.token_urlsafe(nbytes)
