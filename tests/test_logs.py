"""The shell's own log lines: an operator's halt and resume of one market."""

from __future__ import annotations

from mmfsm.core.commands import Log, Severity
from mmfsm.core.events import Event, OperatorHalt, OperatorResume
from mmfsm.harness import Harness
from mmfsm.logs import operator_logs, transition_text


def _said(h: Harness, event: Event) -> list[Log]:
    return operator_logs(h.engine, event, h.engine.step(event))


def test_a_market_halt_and_resume_each_say_so_the_bot_s_are_the_engine_s() -> None:
    h = Harness()
    h.start()
    halt = _said(h, OperatorHalt(ts_ms=h.now_ms, reason="news", market="m1"))
    assert halt == [Log(severity=Severity.WARNING, message="Operator halt: news", market="m1")]
    again = _said(h, OperatorHalt(ts_ms=h.now_ms, reason="x", market="m1"))
    assert [m.message for m in again] == ["Operator halt: x (already halted)"]
    assert _said(h, OperatorHalt(ts_ms=h.now_ms, reason="x", market="zz")) == []
    resume = _said(h, OperatorResume(ts_ms=h.now_ms, ack="done", market="m1"))
    assert [(m.severity, m.message) for m in resume] == [
        (Severity.WARNING, "Market resumed by operator: done")
    ]
    assert _said(h, OperatorResume(ts_ms=h.now_ms, ack="done", market="m1")) == []
    assert _said(h, OperatorResume(ts_ms=h.now_ms, ack="  ", market="m1")) == []
    assert _said(h, OperatorHalt(ts_ms=h.now_ms, reason="all")) == []  # the Engine's alert


def test_a_market_resumed_onto_a_bad_book_says_where_it_went() -> None:
    h = Harness()
    h.start()
    h.send(OperatorHalt(ts_ms=h.now_ms, reason="news", market="m1"))
    h.book(bids=(("0.10", "100"),), asks=(("0.90", "100"),))
    resume = _said(h, OperatorResume(ts_ms=h.now_ms, ack="done", market="m1"))
    assert [m.message for m in resume] == ["Market resumed by operator: done (now gapped_skip)"]


def test_transition_text_does_not_double_the_bot_s_name() -> None:
    h = Harness()
    h.start()
    step = h.engine.step(OperatorHalt(ts_ms=h.now_ms, reason="all"))
    assert [transition_text(t) for t in step.transitions] == [
        "bot: running -> halted (operator_halt)",
        "market m1: running -> halted (halt)",
    ]
