"""The quote models' configuration, validated when it is built.

It is a module of its own because the compiled core (``setup.py``) cannot hold attrs
classes whose fields carry validators; this one is built once per config, never per
event, so it loses nothing by staying interpreted.
"""

from __future__ import annotations

import math
from typing import Literal

from attrs import field, frozen, validators

__all__ = ["QuoteModel", "QuoteParams"]

QuoteModel = Literal["avellaneda-stoikov", "glft"]


def _pos_validator(_inst: object, attr: object, value: float) -> None:
    # The same wording as ``quotes._positive``, which the compiled quote functions keep
    # for themselves rather than calling across into this interpreted module.
    if not (math.isfinite(value) and value > 0):
        name = getattr(attr, "name", "?")
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@frozen(kw_only=True)
class QuoteParams:
    """Quote model config. The defaults are placeholders to calibrate, not advice.

    ``gamma`` is the risk aversion of whichever model runs, so its unit follows it:
    per dollar for Avellaneda-Stoikov, per tick for GLFT. ``k`` is AS's fill-decay in
    1/dollars; ``glft_a`` (fills per second) and ``glft_k`` (per tick) are GLFT's.
    ``horizon_s`` is AS's T - t: a rolling constant for 24/7 markets, shortened to the
    time to market end when that is known and sooner. ``min_half_spread`` (dollars) is
    a floor on the half spread of either model.
    """

    model: QuoteModel = field(
        default="avellaneda-stoikov", validator=validators.in_(("avellaneda-stoikov", "glft"))
    )
    gamma: float = field(default=5.0, validator=_pos_validator)
    k: float = field(default=150.0, validator=_pos_validator)
    horizon_s: float = field(default=3600.0, validator=_pos_validator)
    glft_a: float = field(default=1.0, validator=_pos_validator)
    glft_k: float = field(default=0.5, validator=_pos_validator)
    min_half_spread: float = field(default=0.005, validator=_pos_validator)
