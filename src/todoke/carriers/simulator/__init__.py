"""The built-in carrier simulator: an SMPP 3.4 SMSC on loopback that behaves like the Japanese
carriers, so that the whole platform runs, is tested and is benchmarked on one machine.

::

    sim = CarrierSimulator(SimulatorConfig(port=0, seed=1, time_factor=0.001))
    host, port = await sim.start()
    ...                                   # bind, submit_sm, read receipts
    sim.set_maintenance(Carrier.AU, True) # drills
    sim.disconnect_all(); await sim.restart(down_for=2.0)
    await sim.send_mo("819012345678", "12345", "返信です")
    await sim.stop()

Behaviour per carrier (latency, outcome rates, au's 20-minute failure receipts, docomo's
一部受信, message id formats, receipt TLVs and date widths, throttling) is in ``profiles.py``
with the source of each number. Which profile a submit_sm uses: the bound system_id when it
is a carrier name ("docomo", "au", "softbank", "rakuten"), else the carrier that the
destination's number block belongs to, else docomo.

Outcomes
--------
Deterministic: the same seed and the same messages give the same outcomes (a hash of seed,
destination and the destination's attempt number: ``outcomes.py``). Destinations ending in
0000-9899 follow the profile's random rates; the last four digits force an outcome:

====  =================================================================  ==================
end   what happens                                                        platform sees
====  =================================================================  ==================
9900  DELIVRD                                                             delivered
9901  UNDELIV err:006 (圏外・電源OFF)                                      temporary
9902  UNDELIV err:051 (輻輳)                                               temporary
9903  UNDELIV err:001 (欠番)                                               permanent
9904  UNDELIV err:902 (SMS拒否設定)                                        permanent
9905  UNDELIV err:032 (端末エラー)                                         temporary
9906  multi-part: first parts DELIVRD, the rest UNDELIV err:903            permanent
      (一部受信); a single part: DELIVRD
9907  submit_sm refused ESME_RINVDSTADR (0x0B)                             permanent
9908  accepted, receipt never sent (the no-receipt expiry path)            unknown
9909  first attempt UNDELIV err:006, DELIVRD on later attempts             retried, delivered
9910  UNDELIV err:031 (話中)                                               temporary
9911  UNDELIV err:013 (回線停止, au 未払)                                   temporary
9912  UNDELIV err:901 (他NW障害)                                           temporary
9913  EXPIRED                                                              permanent
9914  stat:UNKNOWN                                                         unknown
9915  REJECTD err:904                                                      permanent
9916  UNDELIV err:905 (no known reason)                                    permanent
9917  first attempt submit_sm refused ESME_RSUBMITFAIL (0x45), then        retried, delivered
      accepted and DELIVRD
9918  DELIVRD, the receipt sent twice                                      delivered once
9919-9999  reserved: DELIVRD
====  =================================================================  ==================

stat:/err: come from ``domain.status_maps.SIM_STAT`` / ``SIM_ERR``, so ``classify_receipt``
gives back the cause. "Attempt" counts messages per destination (remembered for the last
200,000 destinations), so a resubmission can succeed where the first try failed. A failure
receipt of a profile with ``failure_receipt_delay_ms`` (au) comes after that delay.

SMSC behaviour
--------------
* binds of the three kinds; credentials checked when configured (ESME_RINVSYSID,
  ESME_RINVPASWD); enquire_link; unbind; generic_nack for undecodable PDUs.
* submit_sm answered at once with a unique, increasing id; receipts (esm_class 0x04, one per
  part, as real SMSCs send) after the profile's delay, as registered_delivery asks.
* deliver_sm: at most ``window`` unanswered per connection; resent on an error answer or no
  answer; queued per system_id while no receiver of it is bound; never silently dropped.
* maintenance (``set_maintenance``): submit_sm answered 0x45 ESME_RSUBMITFAIL (temporary).
* throttling: above a profile's ``throttle_tps`` per bind, 0x58 ESME_RTHROTTLED.
"""

from todoke.carriers.simulator.outcomes import FORCED_SUFFIXES, Decision, Forced
from todoke.carriers.simulator.profiles import (
    AU_FAILURE_RECEIPT_DELAY_MS,
    DEFAULT_PROFILES,
    CarrierProfile,
    IdStyle,
)
from todoke.carriers.simulator.server import (
    MAINTENANCE_STATUS,
    CarrierSimulator,
    SimulatorConfig,
)
from todoke.carriers.simulator.stats import SimulatorStats

__all__ = [
    "AU_FAILURE_RECEIPT_DELAY_MS",
    "DEFAULT_PROFILES",
    "FORCED_SUFFIXES",
    "MAINTENANCE_STATUS",
    "CarrierProfile",
    "CarrierSimulator",
    "Decision",
    "Forced",
    "IdStyle",
    "SimulatorConfig",
    "SimulatorStats",
]
