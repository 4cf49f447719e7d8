"""Kill -9 harness: kill a trading bot at random moments, restart it, and audit the damage.

Usage::

    python tools/kill9_harness.py                  # 5 kills, 2-8 s apart, seed 1
    python tools/kill9_harness.py --kills 20 --min-s 0.5 --max-s 6 --seed 7 --faults

What it does
------------
1. Starts the CLOB emulator (``mmfsm.emulator``) in this process, on loopback, and writes
   a config listing its markets; the bot gets a throwaway key, never a real one.
2. ``--kills`` times: starts ``mmfsm run --venue polymarket --live --no-confirm`` against
   the emulator (the live code path, with the audit log, write-ahead steps, recovery and
   the venue's start-up reconciliation), lets it trade for a random time, and kills it
   with SIGKILL: no cleanup, no final snapshot, orders left resting at the venue. After
   each kill the audit log must verify, and recovery must rebuild an Engine from it.
3. Starts the bot once more and lets it stop cleanly (it cancels everything).
4. Compares the venue with the bot: every trade of the bot's account at the venue
   (not FAILED) must be in the ledger rebuilt from the audit log and vice versa, the
   token holdings must match the ledger's, no order of the bot may be left open, and
   ``audit replay`` must reproduce every recorded decision across all the restarts.

Exit status 0 when every check passed, 1 otherwise. ``--faults`` turns on the
emulator's WebSocket drops and delays, 5xx answers, lost and slow acks; a bot that then
refuses to start (exit status 3: it cannot read its trades or balances) is reported, not
counted as a failure, since refusing is the safe answer.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from mmfsm.audit.recovery import recover
from mmfsm.audit.replay import replay_conn
from mmfsm.audit.store import connect_reader
from mmfsm.audit.verify import verify_path
from mmfsm.emulator import Emulator, EmulatorConfig, FaultConfig
from mmfsm.emulator.thread import EmulatorThread


def _bot(work: Path, emu: Emulator, key: str, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "mmfsm.cli", "run", "--venue", "polymarket", "--live",
            "--no-confirm", "--host", emu.url, "--ws-url", emu.ws_url,
            "--chain-id", str(emu.config.chain_id), "--config", "bot.toml",
            "--audit", "audit.sqlite", "--log-file", "bot.log", "--quiet",
            "--seconds", str(int(seconds)),
        ],
        cwd=work,
        env=os.environ | {"MMFSM_PRIVATE_KEY": key},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _venue_view(emu: Emulator, address: str) -> dict[str, Any]:
    trades = {t.id for t, _side in emu.exchange.trades_of(address) if t.status != "FAILED"}
    tokens = {m.yes_token for m in emu.markets} | {m.no_token for m in emu.markets}
    return {
        "trades": trades,
        "open": len(emu.open_orders(address)),
        "holdings": {token: emu.balance(address, token) for token in tokens},
    }


def run(args: argparse.Namespace) -> int:
    # A killed client leaves half-read requests behind; the emulator's traceback for each
    # is noise here.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    faults = (
        FaultConfig(ws_drop=0.01, ws_delay_ms=200, http_5xx=0.02, lost_ack=0.05, slow_ack_ms=300)
        if args.faults
        else FaultConfig()
    )
    emulator = EmulatorThread(EmulatorConfig(seed=args.seed, faults=faults))
    emu = emulator.emulator
    account = Account.create()
    key, address = account.key.hex(), account.address
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mmfsm-kill9-", dir=args.dir) as name:
        work = Path(name)
        (work / "bot.toml").write_text(
            "".join(
                f'[[markets]]\ncondition_id = "{m.condition_id}"\n'
                f'yes_token = "{m.yes_token}"\nno_token = "{m.no_token}"\n'
                for m in emu.markets
            )
        )
        print(f"emulator {emu.url}, {len(emu.markets)} markets; bot account {address}")
        for n in range(1, args.kills + 1):
            bot = _bot(work, emu, key, seconds=3600)
            alive = rng.uniform(args.min_s, args.max_s)
            time.sleep(alive)
            if bot.poll() is not None:
                out = bot.communicate()[0]
                if bot.returncode == 3:  # refused to start (a venue fault): the safe answer
                    print(f"run {n}: refused to start: {out.strip().splitlines()[-1]}")
                else:
                    failures.append(f"run {n}: the bot exited by itself ({bot.returncode})")
                    print(out[-2000:])
                continue
            os.kill(bot.pid, signal.SIGKILL)
            bot.communicate(timeout=30)
            view = emulator.read(lambda e: _venue_view(e, address))
            line = f"kill {n}: after {alive:4.1f}s; venue: {len(view['trades'])} trades, "
            line += f"{view['open']} orders left resting"
            audit = work / "audit.sqlite"
            if not audit.exists():
                print(line + "; no audit log yet (killed during start-up)")
                continue
            report = verify_path(audit)
            if not report.ok:
                failures.append(f"kill {n}: audit log does not verify: {report.problem}")
            conn = connect_reader(audit)
            try:
                recovered = recover(conn)
                line += (
                    f"; audit {report.last_seq} records, verify "
                    f"{'OK' if report.ok else 'FAILED'}, recovered bot "
                    f"{recovered.engine.bot.state}"
                )
            except Exception as exc:
                failures.append(f"kill {n}: recovery failed: {exc}")
            finally:
                conn.close()
            print(line)

        final = _bot(work, emu, key, seconds=args.final_s)
        out, _ = final.communicate(timeout=args.final_s + 120)
        if final.returncode != 0:
            failures.append(f"final run exited {final.returncode}:\n{out[-3000:]}")
        time.sleep(args.settle_s)  # let MATCHED trades settle at the venue
        view = emulator.read(lambda e: _venue_view(e, address))
        conn = connect_reader(work / "audit.sqlite")
        try:
            engine = recover(conn).engine
            replayed = replay_conn(conn)
        finally:
            conn.close()
        emulator.stop()
        ledger = {
            fill_id.split(":")[0] for ms in engine.markets.values() for fill_id in ms.ledger.fills
        }
        lost = view["trades"] - ledger
        phantom = ledger - view["trades"]
        if lost:
            failures.append(f"{len(lost)} venue trades missing from the ledger: {sorted(lost)[:5]}")
        if phantom:
            failures.append(
                f"{len(phantom)} ledger fills the venue never made: {sorted(phantom)[:5]}"
            )
        for ms in engine.markets.values():
            for token, held in (
                (ms.yes_token, ms.ledger.yes_held),
                (ms.no_token, ms.ledger.no_held),
            ):
                at_venue = view["holdings"].get(token, 0)
                if at_venue != held:
                    failures.append(
                        f"{ms.market[:10]}… token {token[:10]}…: venue holds {at_venue}, "
                        f"the ledger says {held}"
                    )
        if view["open"]:
            failures.append(f"{view['open']} orders of the bot still open at the venue")
        if not replayed.ok:
            failures.append(f"audit replay diverged: {replayed.first}")
        print(
            f"final: venue {len(view['trades'])} trades of ours, ledger {len(ledger)} fills, "
            f"{view['open']} open orders; replay of {replayed.events} events across "
            f"{args.kills + 1} runs: {'OK' if replayed.ok else 'DIVERGED'}"
        )
    for failure in failures:
        print(f"FAIL: {failure}")
    print("PASS" if not failures else f"{len(failures)} failures")
    return 0 if not failures else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--min-s", type=float, default=2.0, help="shortest life before a kill")
    parser.add_argument("--max-s", type=float, default=8.0, help="longest life before a kill")
    parser.add_argument("--final-s", type=float, default=10.0, help="the last, clean run")
    parser.add_argument("--settle-s", type=float, default=2.0, help="wait for trades to settle")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", action="store_true", help="turn on emulator faults")
    parser.add_argument("--dir", type=Path, help="where to put the work directory")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
