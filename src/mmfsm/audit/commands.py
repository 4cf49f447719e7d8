"""``mmfsm audit verify | tail | export | replay``: the operator's tools on an audit log.

Every subcommand opens the log read-only (``store.connect_reader``), so it is safe to run
against the log of a running bot (WAL mode lets readers and the writer work at once).
The log defaults to ``run.audit_path`` of ``--config`` (or of the built-in config).
Exit status: 0 when all is well, 1 when verify or replay finds a problem (a record that
is not what the writer wrote, a replay that differs), 2 on usage errors and on a file
that is not a readable audit log, as the rest of the CLI (which prints an ``AuditError``
as one line).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from mmfsm.audit.chain import AuditRecord
from mmfsm.audit.replay import replay_path
from mmfsm.audit.store import BadRecord, read_records, reading
from mmfsm.audit.verify import verify_path
from mmfsm.cliargs import positive_seconds
from mmfsm.settings import load_config
from mmfsm.text import plural

__all__ = ["add_audit_parser", "describe", "run_audit"]


def add_audit_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="verify, follow, export or replay an audit log")
    actions = audit.add_subparsers(dest="audit_command", required=True)

    def common(name: str, text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=text)
        p.add_argument("path", type=Path, nargs="?", help="audit log (default: run.audit_path)")
        p.add_argument("--config", type=Path, help="config whose run.audit_path to use")
        p.set_defaults(handler=run_audit)
        return p

    v = common("verify", "check the hash chain; name the first bad record")
    v.add_argument("--expect", metavar="SEQ:HASH", help="a head noted earlier that must be there")
    v.add_argument("--fast", action="store_true", help="check hashes only, do not decode bodies")
    t = common("tail", "print the last records, and follow new ones with -f")
    t.add_argument("-n", type=int, default=20, help="records to show first (default 20)")
    t.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    t.add_argument(
        "--interval", type=positive_seconds, default=0.5, help="poll interval with -f (s)"
    )
    e = common("export", "write every record as JSON lines")
    e.add_argument("--format", choices=["jsonl"], default="jsonl")
    e.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    common("replay", "re-run the events through the Engine and compare every decision")


def _path(args: argparse.Namespace) -> Path:
    if args.path is not None:
        return Path(args.path)
    return Path(load_config(args.config).run.audit_path)


def describe(record: AuditRecord) -> str:
    """One line per record, for people: time, seq, kind and what it says."""
    when = dt.datetime.fromtimestamp(record.ts_ms / 1000, tz=dt.UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    try:
        body = json.loads(record.body)
    except ValueError:
        body = {"type": "?", "text": record.body}
    if not isinstance(body, dict):
        body = {"type": "?", "value": body}
    kind = body.pop("type", "?")
    if record.kind == "transition":
        inputs = " ".join(f"{k}={v}" for k, v in body.get("inputs", []))
        text = (
            f"{body.get('machine')} {body.get('id')}: {body.get('source')} -> "
            f"{body.get('target')} ({body.get('event')}) {inputs}"
        )
    elif record.kind == "genesis":
        text = f"config {record.config_hash[:12]}"
    else:
        body.pop("ts_ms", None)
        fields = " ".join(f"{k}={json.dumps(v)}" for k, v in body.items() if v is not None)
        text = f"{kind} {fields}"
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{record.seq:>8} {stamp} {record.kind:<10} {text.rstrip()}"


def _verify(args: argparse.Namespace, path: Path, out: TextIO) -> int:
    expect = None
    if args.expect:
        seq, _, digest = str(args.expect).partition(":")
        if not seq.isdigit() or len(digest) != 64:
            print("mmfsm audit verify: --expect takes SEQ:HASH (64 hex digits)", file=sys.stderr)
            return 2
        expect = (int(seq), digest.lower())
    report = verify_path(path, decode=not args.fast, expect=expect)
    if report.problem is not None:
        print(f"TAMPERED or damaged: {report.problem}", file=out)
        print(
            f"(the {plural(report.records, 'record')} before it "
            f"{'is' if report.records == 1 else 'are'} intact)",
            file=out,
        )
        return 1
    print(
        f"OK: {plural(report.records, 'record')}, hash chain intact; head {report.last_seq}:"
        f"{report.last_hash}",
        file=out,
    )
    return 0


def _tail(args: argparse.Namespace, path: Path, out: TextIO) -> int:
    with reading(path) as conn:
        try:
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()[0]
            after = max(0, int(last) - max(args.n, 0))
            while True:
                for record in read_records(conn, after=after):
                    print(describe(record), file=out, flush=True)
                    after = record.seq
                if not args.follow:
                    return 0
                time.sleep(args.interval)
        except KeyboardInterrupt:
            return 0


def _export(args: argparse.Namespace, path: Path, out: TextIO) -> int:
    with reading(path) as conn:
        target = args.output.open("w", encoding="utf-8") if args.output else out
        try:
            n = 0
            for record in read_records(conn):
                target.write(json.dumps(record.as_json(), sort_keys=True, separators=(",", ":")))
                target.write("\n")
                n += 1
        finally:
            if args.output:
                target.close()
    if args.output:
        print(f"exported {plural(n, 'record')} to {args.output}", file=sys.stderr)
    return 0


def _replay(path: Path, out: TextIO) -> int:
    started = time.perf_counter()
    try:
        report = replay_path(path)
    except BadRecord as exc:  # the log does not verify, or a record cannot be replayed
        print(f"TAMPERED or damaged: {exc}", file=out)
        return 1
    took = time.perf_counter() - started
    if report.first is not None:
        print(f"DIVERGED after {report.events} events: {report.first}", file=out)
        return 1
    skipped = (
        f" ({report.snapshots_skipped} written by other code, not compared)"
        if report.snapshots_skipped
        else ""
    )
    print(
        f"OK: chain verified, replayed {plural(report.events, 'event')} "
        f"({plural(report.records, 'record')}) in {took:.2f}s; every transition and command "
        f"matches the log; {plural(report.snapshots_checked, 'snapshot')} "
        f"{'matches' if report.snapshots_checked == 1 else 'match'} the replayed state{skipped}",
        file=out,
    )
    return 0


def run_audit(args: argparse.Namespace) -> int:
    path = _path(args)
    out = sys.stdout
    if args.audit_command == "verify":
        return _verify(args, path, out)
    if args.audit_command == "tail":
        return _tail(args, path, out)
    if args.audit_command == "export":
        return _export(args, path, out)
    return _replay(path, out)
