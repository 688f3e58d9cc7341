"""Japanese mobile carriers and their identifiers.

The numeric ids are those of the 絶対リーチ! API (seeds/002, キャリア ID): 101 au (KDDI),
103 docomo, 105 SoftBank, 106 Rakuten Mobile. The native API names carriers by ``value``.
"""

from __future__ import annotations

import enum


class Carrier(enum.StrEnum):
    """A mobile network operator that todoke can route to."""

    AU = "au"
    DOCOMO = "docomo"
    SOFTBANK = "softbank"
    RAKUTEN = "rakuten"

    @property
    def carrier_id(self) -> int:
        """The 絶対リーチ! carrierId."""
        return _IDS[self]

    @property
    def display_name(self) -> str:
        """The name shown to users (carrierName in the 絶対リーチ! status API)."""
        return _NAMES[self]

    @classmethod
    def from_id(cls, carrier_id: int | str) -> Carrier:
        """The carrier with this 絶対リーチ! id; ``ValueError`` for an unknown id."""
        try:
            return _BY_ID[int(carrier_id)]
        except (KeyError, ValueError):
            raise ValueError(f"unknown carrier id {carrier_id!r}") from None


_IDS = {Carrier.AU: 101, Carrier.DOCOMO: 103, Carrier.SOFTBANK: 105, Carrier.RAKUTEN: 106}
_BY_ID = {v: k for k, v in _IDS.items()}
_NAMES = {
    Carrier.AU: "au",
    Carrier.DOCOMO: "docomo",
    Carrier.SOFTBANK: "SoftBank",
    Carrier.RAKUTEN: "Rakuten",
}
