"""Prometheus metrics for a running bot, served on the loopback interface only.

Theory of operation
-------------------
Two kinds of update, so a busy book never pays for a full scrape's worth of work:

* per step (``observe_step``): counters and histograms that cost a few hundred
  nanoseconds: events by type, API actions (place, cancel, cancel-all), rejects by
  reason, fills, alerts by severity, the Engine's step latency and the audit log's
  commit latency (``observe_commit``, hooked to ``AuditLog.on_commit``);
* about once a second (``refresh``): gauges read off the Engine: every machine's state
  (as a Prometheus enum), P&L today, the breaker's headroom, and per market net delta,
  worst-case exposure and its limit.

Each ``Metrics`` has its own registry (no global state: tests and two bots in one
process do not collide). ``serve`` binds 127.0.0.1 by default and refuses any address
that is not loopback: the metrics show positions and P&L, and a bot's ports are no
place for the public internet. Put a reverse proxy with authentication in front if a
remote Prometheus must scrape it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from mmfsm.core.commands import Alert, Cancel, CancelAll, Place
from mmfsm.core.engine import Engine, Step
from mmfsm.core.events import Event, OrderRejected, Trade, TradeStatus
from mmfsm.core.machines import BOT, MARKET, POSITION
from mmfsm.core.ticks import MONEY_SCALE, SIZE_SCALE

__all__ = ["Metrics", "MetricsError"]

_LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25,
)  # fmt: skip


class MetricsError(ValueError):
    """A metrics server that would be reachable from outside this host."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("mmfsm_events", "Events fed to the Engine", ["type"], registry=r)
        self.actions = Counter(
            "mmfsm_api_actions", "Commands sent to the venue", ["action"], registry=r
        )
        self.rejects = Counter("mmfsm_rejects", "Orders rejected", ["reason"], registry=r)
        self.fills = Counter("mmfsm_fills", "Fills reported (MATCHED)", ["market"], registry=r)
        self.alerts = Counter("mmfsm_alerts", "Alerts raised", ["severity"], registry=r)
        self.step_seconds = Histogram(
            "mmfsm_step_seconds", "Engine.step latency", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "mmfsm_audit_commit_seconds",
            "Audit log commit latency (durable: a step waited for it)",
            ["durable"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.audit_seq = Gauge("mmfsm_audit_seq", "Last durable audit record", registry=r)
        self.bot_state = Enum(
            "mmfsm_bot_state", "Bot machine state", states=list(BOT.states), registry=r
        )
        self.market_state = Enum(
            "mmfsm_market_state",
            "Market machine state",
            ["market"],
            states=list(MARKET.states),
            registry=r,
        )
        self.position_state = Enum(
            "mmfsm_position_state",
            "Position machine state",
            ["market"],
            states=list(POSITION.states),
            registry=r,
        )
        self.pnl = Gauge("mmfsm_pnl_usd", "P&L today", ["kind"], registry=r)
        self.breaker_headroom = Gauge(
            "mmfsm_breaker_headroom_usd", "Daily loss left before the breaker trips", registry=r
        )
        self.net_delta = Gauge("mmfsm_net_delta_shares", "Net YES delta", ["market"], registry=r)
        self.exposure = Gauge(
            "mmfsm_exposure_worst_shares", "Worst-case exposure", ["market"], registry=r
        )
        self.exposure_limit = Gauge(
            "mmfsm_exposure_limit_shares", "Worst-case exposure limit", ["market"], registry=r
        )
        self._server: Any = None

    def observe_step(self, event: Event, step: Step, seconds: float) -> None:
        self.events.labels(type(event).__name__).inc()
        self.step_seconds.observe(seconds)
        if isinstance(event, OrderRejected):
            self.rejects.labels(event.reason.value).inc()
        elif isinstance(event, Trade) and event.status is TradeStatus.MATCHED:
            self.fills.labels(event.market).inc()
        for command in step.commands:
            if isinstance(command, Place):
                self.actions.labels("place").inc()
            elif isinstance(command, Cancel):
                self.actions.labels("cancel").inc()
            elif isinstance(command, CancelAll):
                self.actions.labels("cancel_all").inc()
            elif isinstance(command, Alert):
                self.alerts.labels(command.severity.value).inc()

    def observe_commit(self, seconds: float, durable: bool) -> None:
        self.commit_seconds.labels("true" if durable else "false").observe(seconds)

    def refresh(self, engine: Engine, audit_seq: int | None = None) -> None:
        self.bot_state.state(engine.bot.state)
        unrealized = sum(ms.unrealized for ms in engine.markets.values())
        self.pnl.labels("realized_today").set(engine.realized_today / MONEY_SCALE)
        self.pnl.labels("unrealized").set(unrealized / MONEY_SCALE)
        self.pnl.labels("daily").set(engine.daily_pnl() / MONEY_SCALE)
        trip_at = engine.breaker_floor - engine.config.risk.global_daily_loss
        self.breaker_headroom.set((engine.daily_pnl() - trip_at) / MONEY_SCALE)
        for name, ms in engine.markets.items():
            exposure = engine.exposure(name)
            self.market_state.labels(name).state(ms.machine.state)
            self.position_state.labels(name).state(ms.position.state)
            self.net_delta.labels(name).set(ms.ledger.delta / SIZE_SCALE)
            self.exposure.labels(name).set(exposure.worst / SIZE_SCALE)
            self.exposure_limit.labels(name).set(exposure.limit / SIZE_SCALE)
        if audit_seq is not None:
            self.audit_seq.set(audit_seq)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Start the HTTP exporter on a loopback address; returns the bound port."""
        try:
            loopback = ipaddress.ip_address(addr).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise MetricsError(f"metrics address {addr} is not loopback; refusing to expose it")
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        self._server = server
        return int(server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
