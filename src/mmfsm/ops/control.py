"""The operator's channel to a running bot: a local Unix socket, owner-only.

Theory of operation
-------------------
``mmfsm status``, ``mmfsm halt`` and ``mmfsm resume --ack "why"`` connect to the bot's
socket, send one JSON line and read one JSON line back. Nothing here decides anything:

* ``status`` is answered from the latest status the run loop published
  (``OperatorDesk.publish``), a plain dict built in the loop's own thread, so the server
  never reads the live Engine from another thread.
* ``halt`` and ``resume`` become ``OperatorRequest``\\ s on the desk. The run loop takes
  them, records who asked (an ``operator`` audit record), turns each into an
  ``OperatorHalt``/``OperatorResume`` event stamped with the loop's own clock, and feeds
  it to the Engine through the audited step like any other event. The reply is sent
  once that step is durable, and carries the step's log lines, so an operator whose
  resume is refused reads why. A resume is the only way out of a breaker halt, and the
  Engine refuses one without an acknowledgement; the ``ack`` text is in the audit log
  twice (the event and the bot's ``resume`` transition).

Access: the socket is created with mode 0600 (umask 0177 around ``bind``, then
``chmod``), so only its owner can connect, and on Linux each connection's peer
credentials (``SO_PEERCRED``) must name the same user. A socket path where another bot
answers is refused (two bots must not trade one account); a stale one is replaced.
Requests are at most 8 KiB and time out.

``ControlServer`` is the asyncio component a run loop starts; ``ControlThread`` runs it
on its own event loop in a thread, for the synchronous synthetic run loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import queue
import socket
import stat
import struct
import threading
from pathlib import Path
from typing import Any

from attrs import frozen

from mmfsm.core.events import Event, OperatorHalt, OperatorResume

__all__ = [
    "ControlError",
    "ControlServer",
    "ControlThread",
    "OperatorDesk",
    "OperatorRequest",
    "call",
]

MAX_REQUEST = 8192
MAX_TEXT = 500
_Reply = dict[str, Any]


class ControlError(RuntimeError):
    """The control socket cannot be served or reached."""


@frozen(kw_only=True)
class OperatorRequest:
    op: str  # "halt" | "resume"
    text: str  # the halt reason or the resume acknowledgement
    market: str | None
    peer: str  # who asked: "uid=1000 pid=4242"

    def event(self, ts_ms: int) -> Event:
        if self.op == "halt":
            return OperatorHalt(ts_ms=ts_ms, reason=self.text, market=self.market)
        return OperatorResume(ts_ms=ts_ms, ack=self.text, market=self.market)


class OperatorDesk:
    """Thread-safe hand-over between the control server and the run loop."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[
            tuple[OperatorRequest, concurrent.futures.Future[_Reply]]
        ] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._status: _Reply = {"bot": "starting"}

    def submit(self, request: OperatorRequest) -> concurrent.futures.Future[_Reply]:
        future: concurrent.futures.Future[_Reply] = concurrent.futures.Future()
        self._requests.put((request, future))
        return future

    def take(self) -> list[tuple[OperatorRequest, concurrent.futures.Future[_Reply]]]:
        taken = []
        while True:
            try:
                taken.append(self._requests.get_nowait())
            except queue.Empty:
                return taken

    def publish(self, status: _Reply) -> None:
        with self._lock:
            self._status = status

    def status(self) -> _Reply:
        with self._lock:
            return self._status


def _peer(sock: socket.socket | None) -> tuple[str, bool]:
    """Who is on the other end, and whether it is us (same uid)."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return "peer unknown", True  # the 0600 mode is the guard where there are no creds
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", raw)
    return f"uid={uid} pid={pid}", uid == os.geteuid()


def _text(request: dict[str, Any], key: str) -> str:
    value = request.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{key} is longer than {MAX_TEXT} characters")
    return value


def _market(request: dict[str, Any]) -> str | None:
    value = request.get("market")
    if value is not None and not isinstance(value, str):
        raise ValueError("market must be a string")
    return value


class ControlServer:
    """The asyncio Unix-socket server (see the module docstring)."""

    def __init__(self, path: Path, desk: OperatorDesk, *, reply_timeout_s: float = 15.0) -> None:
        self.path = path
        self.desk = desk
        self.reply_timeout_s = reply_timeout_s
        self._server: asyncio.base_events.Server | None = None
        self._inode: int | None = None

    async def start(self) -> None:
        _claim(self.path)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._handle, path=str(self.path), limit=MAX_REQUEST
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._inode = os.stat(self.path).st_ino

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:
                self.path.unlink()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            peer, allowed = _peer(writer.get_extra_info("socket"))
            if not allowed:
                reply: _Reply = {"ok": False, "error": "permission denied"}
            else:
                reply = await self._answer(reader, peer)
        except Exception as exc:  # one bad client must never take the server down
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        with contextlib.suppress(OSError):
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, peer: str) -> _Reply:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=5.0)
            request = json.loads(line)
        except (ValueError, asyncio.LimitOverrunError, TimeoutError) as exc:
            return {"ok": False, "error": f"bad request: {type(exc).__name__}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "bad request: not a JSON object"}
        op = request.get("op")
        if op == "status":
            return {"ok": True, "status": self.desk.status()}
        if op not in ("halt", "resume"):
            return {"ok": False, "error": f"unknown op {op!r}: expected status, halt or resume"}
        try:
            text = _text(request, "reason" if op == "halt" else "ack")
            market = _market(request)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        future = self.desk.submit(OperatorRequest(op=op, text=text, market=market, peer=peer))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.reply_timeout_s)
        except TimeoutError:
            return {
                "ok": False,
                "error": f"no answer from the run loop in {self.reply_timeout_s:.0f}s "
                "(the request stays queued)",
            }


def _claim(path: Path) -> None:
    """Make ``path`` free for our socket, or refuse if it is not ours to take."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise ControlError(f"{path} exists and is not a socket; refusing to replace it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # stale: its bot is gone
            return
    raise ControlError(f"{path}: another mmfsm is running on this socket")


class ControlThread:
    """A ControlServer on its own event loop in a daemon thread (synchronous run loops)."""

    def __init__(self, path: Path, desk: OperatorDesk) -> None:
        self.server = ControlServer(path, desk)
        self._thread = threading.Thread(target=self._run, name="mmfsm-control", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10.0)
        if self._error is not None:
            raise ControlError(str(self._error)) from None

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10.0)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()


def call(path: Path, request: dict[str, Any], *, timeout_s: float = 20.0) -> _Reply:
    """Send one request to the bot at ``path`` and return its reply (the CLI side)."""
    data = json.dumps(request).encode() + b"\n"
    if len(data) > MAX_REQUEST:
        raise ControlError("request too long")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no mmfsm is running at {path}") from None
        except PermissionError:
            raise ControlError(f"{path}: permission denied (not the bot's user?)") from None
        chunks = []
        try:
            sock.sendall(data)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if chunk.endswith(b"\n"):
                    break
        except TimeoutError:
            raise ControlError(f"no reply from the bot at {path} in {timeout_s:.0f}s") from None
    try:
        reply = json.loads(b"".join(chunks))
    except ValueError:
        raise ControlError("the bot sent no valid reply") from None
    if not isinstance(reply, dict):
        raise ControlError("the bot sent no valid reply")
    return reply
