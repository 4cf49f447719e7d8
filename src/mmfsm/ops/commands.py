"""``mmfsm status | halt | resume``: the client side of the control socket.

The socket defaults to ``<run.audit_path>.sock`` of ``--config`` (what ``mmfsm run``
uses), or ``--socket``. ``resume`` requires ``--ack``: the text says why resuming is
safe, and goes into the audit log with the resume; the Engine refuses an empty one.
Exit status: 0 done, 1 refused or failed at the bot, 2 no bot reachable or bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mmfsm.ops.control import call
from mmfsm.ops.status import render_status
from mmfsm.settings import load_config

__all__ = ["add_operator_parsers", "run_operator"]


def add_operator_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text)
        p.add_argument("--socket", type=Path, help="control socket of the running bot")
        p.add_argument("--config", type=Path, help="config whose run.audit_path locates it")
        p.add_argument("--json", action="store_true", help="print the raw JSON reply")
        p.set_defaults(handler=run_operator)
        return p

    common("status", "machines, inventory, exposure, P&L today and the breaker of a running bot")
    halt = common("halt", "halt a running bot (or one market): cancel everything, stop quoting")
    halt.add_argument("--reason", default="operator halt", help="why (goes into the audit log)")
    halt.add_argument("--market", help="halt only this market")
    resume = common("resume", "resume after a halt (the only way out of a breaker halt)")
    resume.add_argument("--ack", required=True, help="why it is safe to resume (audited)")
    resume.add_argument("--market", help="resume only this market")


def _socket(args: argparse.Namespace) -> Path:
    if args.socket is not None:
        return Path(args.socket)
    return Path(f"{load_config(args.config).run.audit_path}.sock")


def run_operator(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"op": args.command}
    if args.command == "halt":
        request.update(reason=args.reason, market=args.market)
    elif args.command == "resume":
        request.update(ack=args.ack, market=args.market)
    reply = call(_socket(args), request)
    if args.json:
        print(json.dumps(reply, indent=2, sort_keys=True))
    elif not reply.get("ok"):
        print(f"mmfsm {args.command}: {reply.get('error', 'refused')}", file=sys.stderr)
    elif args.command == "status":
        print(render_status(reply["status"]))
    else:
        for line in reply.get("transitions", []) + reply.get("lines", []):
            print(line)
        reason = reply.get("halt_reason")
        print(f"bot {reply.get('bot')}" + (f" ({reason})" if reason else ""))
    return 0 if reply.get("ok") else 1
