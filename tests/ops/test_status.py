"""``mmfsm status``'s content: machines, inventory, exposure, P&L and the breaker."""

from __future__ import annotations

import json

from mmfsm.core.commands import Place
from mmfsm.core.events import OperatorHalt
from mmfsm.harness import Harness
from mmfsm.ops.status import engine_status, render_status


def test_status_of_a_quoting_bot_with_inventory() -> None:
    h = Harness()
    places = [c for c in h.start() if isinstance(c, Place)]
    h.ack(places)
    bid = next(p for p in places if p.side.value == "BUY")
    h.fill(bid, 5_000_000)
    status = engine_status(h.engine)
    json.dumps(status)  # it crosses a socket: plain data only
    assert status["bot"] == "running"
    assert status["breaker"]["latched"] is False
    assert status["breaker"]["daily_loss_limit"] == "50.00"
    (m1,) = status["markets"]
    assert m1["market"] == "m1"
    assert m1["state"] == "running"
    assert m1["position"] == "inventory_held"
    assert m1["net_delta"] == "5"
    assert m1["yes_held"] == "5"
    assert m1["exposure_limit"] == "100"
    text = render_status(status)
    assert "breaker armed" in text
    assert "m1: market running, position inventory_held" in text


def test_status_of_a_halted_bot() -> None:
    h = Harness()
    h.start()
    h.send(OperatorHalt(ts_ms=h.now_ms, reason="maintenance"))
    status = engine_status(h.engine)
    assert status["bot"] == "halted"
    assert status["halt_reason"] == "operator: maintenance"
    assert status["breaker"]["latched"] is True
    assert status["breaker"]["tripped"] is False
    assert "bot halted (operator: maintenance)" in render_status(status)
    assert render_status({"bot": "starting"}) == "bot starting"


def test_the_text_writes_every_dollar_amount_to_4_places_the_json_keeps_them_exact() -> None:
    h = Harness()
    h.start()
    status = engine_status(h.engine)
    status["pnl"] = {
        "daily": "1.0965999999",
        "realized_today": "0.9517241379",
        "unrealized": "0.1448758621",
    }
    status["markets"][0].update(realized="0.9517241379", unrealized="0.1448758621")
    text = render_status(status)
    assert "P&L today 1.0965 USD (realized 0.9517, unrealized 0.1448)" in text
    assert "realized 0.9517 unrealized 0.1448 USD" in text
    assert "breaker armed: trips at -50.0000 USD (limit 50.0000, floor 0.0000)" in text
    assert "headroom 50.0000 USD" in text
    assert status["markets"][0]["realized"] == "0.9517241379"  # the JSON is exact
