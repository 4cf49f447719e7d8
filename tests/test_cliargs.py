"""The command line's argparse types: a bad value is refused naming the flag, exit 2.

The options live in ``mmfsm.trade`` (``--chain-id``, ``--signature-type``, ``--funder``),
``mmfsm.ops.launch`` (``--metrics-port``) and ``mmfsm.audit.commands`` (``tail
--interval``); this checks the types and choices they use, on a parser declared the way
those modules declare theirs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mmfsm.cli import main
from mmfsm.cliargs import CHAIN_IDS, SIGNATURE_TYPES, address, port, positive_seconds

FUNDER = "0x" + "aB" * 20


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mmfsm run")
    p.add_argument("--metrics-port", type=port, default=0)
    p.add_argument("--chain-id", type=int, choices=CHAIN_IDS, default=137)
    p.add_argument("--signature-type", type=int, choices=SIGNATURE_TYPES, default=0)
    p.add_argument("--funder", type=address)
    p.add_argument("--interval", type=positive_seconds, default=0.5)
    return p


def test_good_values_parse() -> None:
    argv = ["--metrics-port", "65535", "--chain-id", "80002", "--signature-type", "2"]
    args = _parser().parse_args([*argv, "--funder", FUNDER, "--interval", "0.25"])
    assert (args.metrics_port, args.chain_id, args.signature_type) == (65535, 80002, 2)
    assert (args.funder, args.interval) == (FUNDER, 0.25)
    assert _parser().parse_args(["--metrics-port", "0"]).metrics_port == 0  # off


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metrics-port", "99999"], "argument --metrics-port: 99999 is not a port (0 to 65535)"),
        (["--metrics-port", "-1"], "argument --metrics-port: -1 is not a port (0 to 65535)"),
        (["--metrics-port", "http"], "argument --metrics-port: 'http' is not an integer"),
        (["--chain-id", "1"], "argument --chain-id: invalid choice: 1 (choose from 137, 80002)"),
        (["--signature-type", "3"], "argument --signature-type: invalid choice: 3"),
        (["--signature-type", "-1"], "argument --signature-type: invalid choice: -1"),
        (["--funder", "0x1234"], "argument --funder: '0x1234' is not an address"),
        (["--funder", "ab" * 21], "is not an address (0x followed by 40 hex digits)"),
        (["--funder", "0x" + "g" * 40], "argument --funder:"),
        (["--interval", "-1"], "argument --interval: must be a number of seconds > 0, not -1"),
        (["--interval", "0"], "argument --interval: must be a number of seconds > 0, not 0"),
        (["--interval", "nan"], "argument --interval: must be a number of seconds > 0"),
        (["--interval", "soon"], "argument --interval: 'soon' is not a number"),
    ],
)
def test_a_bad_value_exits_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_the_choices_are_the_venues() -> None:
    assert CHAIN_IDS == (137, 80002)  # Polygon, Amoy (POLYMARKET-CLOB-V2.md 3.2)
    assert SIGNATURE_TYPES == (0, 1, 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--metrics-port", "99999"], "argument --metrics-port: 99999 is not a port"),
        (["run", "--metrics-port", "-1"], "argument --metrics-port: -1 is not a port"),
        (["run", "--chain-id", "1"], "argument --chain-id: invalid choice: 1"),
        (["run", "--signature-type", "7"], "argument --signature-type: invalid choice: 7"),
        (["run", "--funder", "0xnope"], "argument --funder: '0xnope' is not an address"),
        (["audit", "tail", "-f", "--interval", "-1"], "argument --interval: must be"),
    ],
)
def test_mmfsm_refuses_a_bad_value_before_creating_anything(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit.sqlite"
    extra = ["--audit", str(audit)] if argv[0] == "run" else [str(audit)]
    with pytest.raises(SystemExit) as exc:
        main([*argv, *extra])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no audit log, no socket
