"""Planted secrets never appear in any log, audit record, status, metric or error."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from mmfsm.audit.log import AuditLog
from mmfsm.cli import main
from mmfsm.core.config import default_config
from mmfsm.core.engine import Engine
from mmfsm.core.events import OrderRejected, RejectReason
from mmfsm.harness import T0
from mmfsm.logs import log_commands
from mmfsm.ops.control import call
from mmfsm.ops.redact import REDACTED, RedactingFilter, Redactor

SECRETS = {
    "MMFSM_PRIVATE_KEY": "0x" + "4b1d" * 16,
    "MMFSM_API_KEY": "planted-api-key-7f3e9c1d",
    "MMFSM_API_SECRET": "PLANTED/secret+base64==",
    "MMFSM_API_PASSPHRASE": "planted-passphrase-91",
    "MMFSM_PAGERDUTY_ROUTING_KEY": "PLANTEDroutingKEY4242",
}
HOOK_SECRET = "PLANTEDHOOKPATH0001"


def _needles() -> list[str]:
    values = [*SECRETS.values(), HOOK_SECRET]
    return values + [json.dumps(v)[1:-1] for v in values]


def _assert_clean(where: str, data: bytes | str) -> None:
    text = data if isinstance(data, str) else data.decode("latin-1")
    for needle in _needles():
        assert needle not in text, f"a planted secret is in {where}"


@pytest.fixture
def hooks() -> Iterator[tuple[int, list[tuple[str, dict[str, Any]]]]]:
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_run_writes_no_secret_anywhere(
    hooks: tuple[int, list[tuple[str, dict[str, Any]]]],
) -> None:
    port, received = hooks
    with tempfile.TemporaryDirectory(prefix="mmfsm-") as name:
        work = Path(name)
        config = work / "breaker.toml"
        config.write_text("[risk]\nglobal_daily_loss_usd = 0.5\n")
        env = os.environ | SECRETS
        env["MMFSM_ALERT_WEBHOOK"] = f"http://127.0.0.1:{port}/services/{HOOK_SECRET}"
        env["MMFSM_PAGERDUTY_URL"] = f"http://127.0.0.1:{port}/pd"
        metrics_port = _free_port()
        bot = subprocess.Popen(
            [
                sys.executable, "-m", "mmfsm.cli", "run", "--venue", "synthetic",
                "--config", str(config), "--seconds", "400", "--audit", "a.sqlite",
                "--log-file", "bot.log", "--metrics-port", str(metrics_port),
            ],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        # Scrape while it runs (the synthetic venue is fast: try until it is up or done).
        scraped = status = ""
        while bot.poll() is None and not (scraped and status):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as r:
                    scraped = r.read().decode()
                status = json.dumps(call(work / "a.sqlite.sock", {"op": "status"}))
            except OSError:
                time.sleep(0.01)
            except Exception:
                time.sleep(0.01)
        out, err = bot.communicate(timeout=60)
        assert bot.returncode == 0, err
        assert "mmfsm_step_seconds" in scraped
        assert '"bot"' in status
        assert "GLOBAL DAILY LOSS LIMIT EXCEEDED" in (work / "bot.log").read_text()

        assert main(["audit", "export", str(work / "a.sqlite"), "-o", str(work / "x.jsonl")]) == 0
        _assert_clean("stdout", out)
        _assert_clean("stderr", err)
        _assert_clean("the metrics", scraped)
        _assert_clean("the status", status)
        files = [p for p in work.rglob("*") if p.is_file()]
        assert {p.name for p in files} >= {"a.sqlite", "bot.log", "x.jsonl"}
        for path in files:
            _assert_clean(str(path.name), path.read_bytes())

    # The alerts went out: the breaker to PagerDuty and chat, warnings to chat only.
    deadline = time.monotonic() + 5
    while not any(p == "/pd" for p, _ in received) and time.monotonic() < deadline:
        time.sleep(0.01)
    pd = [b for p, b in received if p == "/pd"]
    assert pd
    assert "GLOBAL DAILY LOSS LIMIT EXCEEDED" in pd[0]["payload"]["summary"]
    assert pd[0]["routing_key"] == SECRETS["MMFSM_PAGERDUTY_ROUTING_KEY"]  # PagerDuty needs it
    for path, body in received:
        body = {k: v for k, v in body.items() if k != "routing_key"}
        _assert_clean(f"a webhook body to {path}", json.dumps(body))


def test_outside_text_carrying_a_secret_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var, value in SECRETS.items():
        monkeypatch.setenv(var, value)
    redactor = Redactor.from_environment()
    key = SECRETS["MMFSM_API_KEY"]

    # An exchange error that echoes a credential: scrubbed in the audit log and the log.
    log = AuditLog(tmp_path / "a.sqlite", scrub=redactor)
    log.genesis(default_config(), T0)
    engine = Engine(default_config())
    event = OrderRejected(
        ts_ms=T0, client_id="mm-1", reason=RejectReason.OTHER, message=f"bad header {key}"
    )
    step = log.step(engine, event)
    log.close(engine)
    assert log.stats.redactions == 1
    stream = tmp_path / "bot.log"
    logger = logging.getLogger("mmfsm.tests.redact")
    logger.propagate = False
    handler = logging.FileHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    logger.addHandler(handler)
    logger.warning("venue said %s", key)
    log_commands(logger, T0, step.commands)
    handler.close()
    logger.removeHandler(handler)
    assert REDACTED in stream.read_text()

    # An error message quoting a path that holds one.
    assert main(["status", "--socket", str(tmp_path / key / "x.sock")]) == 2
    err = capsys.readouterr().err
    assert "no mmfsm is running" in err
    assert REDACTED in err

    for path in tmp_path.rglob("*"):
        if path.is_file():
            _assert_clean(path.name, path.read_bytes())
    _assert_clean("stderr", err)


def test_short_values_are_not_searched_for() -> None:
    assert Redactor(["abc"])("abcdef") == "abcdef"
    assert Redactor(["abcdef"])("xabcdefx") == f"x{REDACTED}x"
    assert Redactor(['sec"ret!'])('{"m":"sec\\"ret!"}') == '{"m":"' + REDACTED + '"}'


class _EchoingVenue(BaseHTTPRequestHandler):
    """A venue whose errors echo the auth headers it was sent (some proxies do): every
    private call is refused with a 401 quoting the API key and passphrase. Public reads
    answer as Polymarket does, so the run gets as far as its authenticated reads."""

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/time"):
            self._send(200, int(time.time()))
            return
        headers = {k.upper(): v for k, v in self.headers.items()}
        self._send(
            401,
            {
                "error": f"Unauthorized: got key {headers.get('POLY_API_KEY')} "
                f"passphrase {headers.get('POLY_PASSPHRASE')} "
                f"signature {headers.get('POLY_SIGNATURE')}"
            },
        )

    def do_POST(self) -> None:
        self.do_GET()

    def do_DELETE(self) -> None:
        self.do_GET()


@pytest.fixture
def echoing_venue() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _EchoingVenue)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("new_log", [False, True], ids=["refused-new-log", "started"])
@pytest.mark.parametrize("source", ["environment", "secrets-file"])
def test_a_venue_error_echoing_the_credentials_is_scrubbed_everywhere(
    source: str,
    new_log: bool,
    echoing_venue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The live path's own error text (a refused start, the summary, the log) never
    carries a credential the venue echoed back, whether the credentials came from the
    environment or only from a --secrets-file (which no environment-based redactor
    knows of). ``new_log``: past the new-log check, so the run opens its audit log and
    log file and fails in the start-up reconciliation instead."""
    for var in SECRETS:
        monkeypatch.delenv(var, raising=False)
    # The client signs with the API secret, so here it must be real base64.
    planted = {**SECRETS, "MMFSM_API_SECRET": "UExBTlRFRC1zZWNyZXQtZm9yLXRoZS10ZXN0cy0wMDE="}
    names = ("MMFSM_PRIVATE_KEY", "MMFSM_API_KEY", "MMFSM_API_SECRET", "MMFSM_API_PASSPHRASE")
    args: list[str] = []
    if source == "environment":
        for var in names:
            monkeypatch.setenv(var, planted[var])
    else:
        secrets = tmp_path / "secrets.env"
        secrets.write_text("".join(f"{var}={planted[var]}\n" for var in names))
        secrets.chmod(0o600)
        args = ["--secrets-file", str(secrets)]
    if new_log:
        args.append("--new-audit-log")
    config = tmp_path / "live.toml"
    yes, no = "7132104567925221259462638553270691275033272857194253228963137931", "5211431950"
    config.write_text(
        f'[[markets]]\ncondition_id = "0x{"01" * 32}"\nyes_token = "{yes}"\nno_token = "{no}"\n',
        encoding="utf-8",
    )
    audit = tmp_path / "live.sqlite"
    log_file = tmp_path / "live.log"
    code = main(
        [
            "run", "--venue", "polymarket", "--live", "--no-confirm",
            "--config", str(config), "--audit", str(audit), "--log-file", str(log_file),
            "--host", echoing_venue, "--ws-url", "ws://127.0.0.1:9", "--seconds", "2",
            *args,
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 3, (out, err)  # refused: the venue's reads fail
    assert "401: Unauthorized" in err  # the venue's reason is still told
    outputs = {"stdout": out, "stderr": err}
    outputs |= {p.name: p.read_bytes().decode("latin-1") for p in (log_file, audit) if p.exists()}
    for where, text in outputs.items():
        for var in names:
            assert planted[var] not in text, f"{var} is in {where}"
