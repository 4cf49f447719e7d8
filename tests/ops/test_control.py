"""The control socket: owner-only, one JSON line each way, halt/resume through the Engine."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmfsm.audit.log import AuditLog
from mmfsm.audit.store import connect_reader
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine
from mmfsm.harness import T0
from mmfsm.ops.control import (
    ControlError,
    ControlThread,
    OperatorDesk,
    OperatorRequest,
    call,
)
from mmfsm.ops.services import Services
from mmfsm.runner import run_synthetic


@pytest.fixture
def sock_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Unix socket paths are limited to ~107 bytes: keep them short.
    import tempfile

    return Path(tempfile.mkdtemp(prefix="mmfsm-"))


@pytest.fixture
def served(sock_dir: Path) -> Iterator[tuple[Path, OperatorDesk]]:
    desk = OperatorDesk()
    path = sock_dir / "bot.sock"
    server = ControlThread(path, desk)
    server.server.reply_timeout_s = 1.0
    server.start()
    try:
        yield path, desk
    finally:
        server.stop()


def _answer_in_background(desk: OperatorDesk, reply: dict[str, Any]) -> threading.Thread:
    """Play the run loop: take one request and answer it."""

    def loop() -> None:
        for _ in range(200):
            taken = desk.take()
            if taken:
                for request, future in taken:
                    future.set_result(reply | {"op": request.op, "text": request.text})
                return
            threading.Event().wait(0.01)

    thread = threading.Thread(target=loop)
    thread.start()
    return thread


def test_the_socket_is_owner_only_and_removed_on_stop(sock_dir: Path) -> None:
    path = sock_dir / "bot.sock"
    server = ControlThread(path, OperatorDesk())
    server.start()
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    server.stop()
    assert not path.exists()


def test_status_is_the_published_one(served: tuple[Path, OperatorDesk]) -> None:
    path, desk = served
    desk.publish({"bot": "running", "x": 1})
    assert call(path, {"op": "status"}) == {"ok": True, "status": {"bot": "running", "x": 1}}


def test_halt_and_resume_are_queued_and_answered(served: tuple[Path, OperatorDesk]) -> None:
    path, desk = served
    thread = _answer_in_background(desk, {"ok": True, "bot": "halted"})
    reply = call(path, {"op": "halt", "reason": "maintenance"})
    thread.join()
    assert reply["ok"]
    assert reply["op"] == "halt"
    assert reply["text"] == "maintenance"
    thread = _answer_in_background(desk, {"ok": True, "bot": "running"})
    reply = call(path, {"op": "resume", "ack": "checked"})
    thread.join()
    assert reply["op"] == "resume"
    assert reply["text"] == "checked"


def test_a_request_the_loop_never_takes_times_out(served: tuple[Path, OperatorDesk]) -> None:
    path, desk = served
    reply = call(path, {"op": "halt", "reason": "x"})
    assert not reply["ok"]
    assert "no answer" in reply["error"]
    assert len(desk.take()) == 1  # still queued: the loop will still halt


@pytest.mark.parametrize(
    ("request_line", "error"),
    [
        (b"not json\n", "bad request"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"op": "explode"}\n', "unknown op"),
        (b'{"op": "halt", "reason": 5}\n', "reason must be a string"),
        (b'{"op": "resume", "ack": "' + b"x" * 600 + b'"}\n', "longer than"),
        (b'{"op": "halt", "reason": "r", "market": 3}\n', "market must be a string"),
    ],
)
def test_bad_requests_are_refused(
    served: tuple[Path, OperatorDesk], request_line: bytes, error: str
) -> None:
    path, _ = served
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(str(path))
        s.sendall(request_line)
        reply = json.loads(s.recv(65536))
    assert not reply["ok"]
    assert error in reply["error"]


def test_a_second_bot_on_the_same_socket_is_refused(served: tuple[Path, OperatorDesk]) -> None:
    path, _ = served
    with pytest.raises(ControlError, match="another mmfsm is running"):
        ControlThread(path, OperatorDesk()).start()


def test_a_stale_socket_is_replaced_and_a_file_is_not(sock_dir: Path) -> None:
    stale = sock_dir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()  # bound, never listening: its bot is gone
    server = ControlThread(stale, OperatorDesk())
    server.start()
    server.stop()
    plain = sock_dir / "plain"
    plain.write_text("not a socket")
    with pytest.raises(ControlError, match="not a socket"):
        ControlThread(plain, OperatorDesk()).start()
    assert plain.read_text() == "not a socket"


def test_the_client_says_when_no_bot_runs(sock_dir: Path) -> None:
    with pytest.raises(ControlError, match="no mmfsm is running"):
        call(sock_dir / "nobody.sock", {"op": "status"})


def test_requests_become_audited_engine_events(tmp_path: Path, sock_dir: Path) -> None:
    """Through the synthetic run loop: halt, a refused resume, an acknowledged resume."""
    desk = OperatorDesk()
    path = sock_dir / "bot.sock"
    server = ControlThread(path, desk)
    server.start()
    log = AuditLog(tmp_path / "a.sqlite")
    log.genesis(default_config(), T0)
    replies: dict[str, dict[str, Any]] = {}
    script = [
        ("halt", {"op": "halt", "reason": "maintenance window"}),
        ("refused", {"op": "resume", "ack": "   "}),
        ("resume", {"op": "resume", "ack": "maintenance done"}),
    ]
    states: dict[str, str] = {}
    sent = threading.Event()

    send_at = {20: 0, 40: 1, 60: 2}  # simulated second -> request to send

    def on_second(second: int, engine: Engine) -> None:
        if second - 1 in send_at:  # the second after: the loop took the request
            states[script[send_at[second - 1]][0]] = engine.bot.state
        if second not in send_at:
            return
        name, request = script[send_at[second]]
        sent.clear()
        real_submit = desk.submit

        def submit(req: OperatorRequest) -> Any:
            future = real_submit(req)
            sent.set()
            return future

        def client() -> None:
            replies[name] = call(path, request)

        desk.submit = submit  # type: ignore[method-assign]
        threading.Thread(target=client, daemon=True).start()
        assert sent.wait(5)  # queued before the loop moves on, so it lands next second
        desk.submit = real_submit  # type: ignore[method-assign]

    logger = logging.getLogger("mmfsm.tests.control")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    engine, _ = run_synthetic(
        default_config(),
        seconds=90,
        seed=7,
        start_ms=T0,
        logger=logger,
        on_second=on_second,
        services=Services(audit=log, desk=desk),
    )
    log.close(engine)
    server.stop()
    for _ in range(100):
        if len(replies) == 3:
            break
        threading.Event().wait(0.02)

    assert states == {"halt": "halted", "refused": "halted", "resume": "running"}
    assert replies["halt"]["ok"]
    assert replies["halt"]["bot"] == "halted"
    assert "bot: running -> halted (operator_halt)" in replies["halt"]["transitions"]
    assert any("Resume refused" in line for line in replies["refused"]["lines"])
    assert replies["resume"]["bot"] == "running"
    conn = connect_reader(tmp_path / "a.sqlite")
    notes = [
        json.loads(b)
        for (b,) in conn.execute("SELECT body FROM records WHERE kind = 'operator' ORDER BY seq")
    ]
    events = [
        str(b)
        for (b,) in conn.execute(
            "SELECT body FROM records WHERE kind = 'event' AND body LIKE '%Operator%' ORDER BY seq"
        )
    ]
    conn.close()
    assert [n["op"] for n in notes] == ["halt", "resume", "resume"]
    assert all(n["peer"].startswith(f"uid={os.geteuid()} ") for n in notes)
    assert "maintenance done" in events[-1]
    assert "OperatorResume" in events[-1]


def test_a_market_halt_and_resume_leave_a_line_in_the_bot_s_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Through the synthetic run loop: each is a WARNING line, and in the reply."""
    desk = OperatorDesk()
    script = {
        20: OperatorRequest(op="halt", text="news due", market="synthetic-1", peer="test"),
        25: OperatorRequest(op="halt", text="still", market="synthetic-1", peer="test"),
        40: OperatorRequest(op="resume", text="news out", market="synthetic-1", peer="test"),
        45: OperatorRequest(op="resume", text="again", market="synthetic-1", peer="test"),
    }
    futures = {}

    def on_second(second: int, engine: Engine) -> None:
        if second in script:
            futures[second] = desk.submit(script[second])

    logger = logging.getLogger("mmfsm.tests.control.market")
    with caplog.at_level(logging.INFO, logger=logger.name):
        run_synthetic(
            default_config(),
            seconds=50,
            seed=7,
            start_ms=T0,
            logger=logger,
            on_second=on_second,
            services=Services(desk=desk),
        )
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "operator" in r.getMessage()
            or "Operator" in r.getMessage()]  # fmt: skip
    assert [(level, text[25:]) for level, text in said] == [
        ("WARNING", "WARNING  [synthetic-1] Operator halt: news due"),
        ("WARNING", "WARNING  [synthetic-1] Operator halt: still (already halted)"),
        ("WARNING", "WARNING  [synthetic-1] Market resumed by operator: news out"),
    ]
    halt = futures[20].result(timeout=5)
    assert "market synthetic-1: running -> halted (halt)" in halt["transitions"]
    assert [line[25:] for line in halt["lines"]] == [
        "WARNING  [synthetic-1] Operator halt: news due"
    ]
    assert futures[45].result(timeout=5)["lines"] == []  # not halted: nothing to resume
