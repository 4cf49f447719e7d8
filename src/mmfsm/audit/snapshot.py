"""Engine snapshots: what a stored blob must match before it is unpickled, and how.

Theory of operation
-------------------
A snapshot blob is a pickled Engine, and unpickling runs whatever the pickle names: a
blob put in the file by anyone but the writer is code to run, not data to read. So
``replay`` and ``recovery`` unpickle a blob only when

1. its ``snapshot`` record is in an intact chain (they verify the chain first),
2. the blob has the SHA-256 and the length in bytes that this record carries
   (``blob_problem``), and
3. the record's fingerprint of the core's code is this code's (``same_code``): an
   Engine pickled by other code need not fit this one;

and even then through ``EngineUnpickler``, which resolves only classes defined in
``mmfsm.core`` (the compiled ones too: a mypyc class pickles by its module path, as an
interpreted one does, so both builds read each other's snapshots) and the few standard
library types an Engine can hold. Anything else a pickle names (``os.system``,
``builtins.eval``, a function, a module attribute reached by a dotted name) is refused
before it is looked up, and the refusal names the record (``BadRecord``). The writer
reads every snapshot back through the same unpickler before storing it, so a snapshot
it stores is one that loads.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from functools import cache
from pathlib import Path

from mmfsm.audit.store import BadRecord
from mmfsm.core.engine import Engine

__all__ = ["EngineUnpickler", "blob_problem", "code_fingerprint", "load_engine", "same_code"]

_CORE = "mmfsm.core"

_STDLIB = frozenset(
    {
        # What an Engine's state holds beyond the core's own classes and the types
        # pickle writes with opcodes of its own (dict, list, tuple, set, str, ...).
        ("builtins", "set"),  # older protocols spell sets as calls
        ("builtins", "frozenset"),
        ("collections", "deque"),  # the micro-price estimator's windows
        ("decimal", "Decimal"),  # config values
    }
)


@cache
def code_fingerprint() -> str:
    """SHA-256 over the core's source: a snapshot is only restored into the same code."""
    core = Path(__file__).resolve().parent.parent / "core"
    digest = hashlib.sha256()
    for path in sorted(core.rglob("*.py")):
        digest.update(path.relative_to(core).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _Refused(pickle.UnpicklingError):
    pass


class EngineUnpickler(pickle.Unpickler):
    """An unpickler that can build an Engine and nothing else."""

    def find_class(self, module: str, name: str, /) -> type:
        if (module, name) in _STDLIB:
            found: object = super().find_class(module, name)
        elif (
            (module == _CORE or module.startswith(_CORE + "."))
            and name.isidentifier()
            and not name.startswith("__")
        ):
            # No dotted names (they reach through attributes: a module's imports), no
            # module dunders, and only a class of the core's own, not a function or an
            # imported name.
            found = super().find_class(module, name)
            origin = getattr(found, "__module__", "")
            if not isinstance(found, type) or not (
                origin == _CORE or str(origin).startswith(_CORE + ".")
            ):
                raise _Refused(f"{module}.{name}")
        else:
            raise _Refused(f"{module}.{name}")
        assert isinstance(found, type)
        return found


def blob_problem(body: str, blob: bytes) -> str | None:
    """Why ``blob`` is not the one the snapshot record with ``body`` vouches for, if not."""
    try:
        data = json.loads(body)
    except ValueError:
        return "the snapshot record does not decode"
    if not isinstance(data, dict):
        return "the snapshot record is not a JSON object"
    if data.get("sha256") != hashlib.sha256(blob).hexdigest():
        return "the snapshot blob does not match its record (SHA-256)"
    if data.get("bytes") != len(blob):
        return "the snapshot blob does not match its record (length)"
    return None


def same_code(body: str) -> bool:
    """Whether the snapshot record with ``body`` was written by this core's code."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("code") == code_fingerprint()


def load_engine(blob: bytes, *, seq: int) -> Engine:
    """The Engine in the snapshot blob of record ``seq``; ``BadRecord`` if it is not one.

    Check the blob against its record first (``blob_problem``, ``same_code``): this
    refuses what is not an Engine's, but a blob of the right classes can still hold any
    state at all.
    """
    try:
        engine = EngineUnpickler(io.BytesIO(blob)).load()
    except _Refused as exc:
        raise BadRecord(
            seq, f"the snapshot blob names {exc}, which no Engine holds: refused, not loaded"
        ) from None
    except Exception as exc:  # a pickle can fail in as many ways as its classes can
        raise BadRecord(
            seq, f"the snapshot blob does not load ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(engine, Engine):
        raise BadRecord(seq, f"the snapshot blob holds a {type(engine).__name__}, not an Engine")
    return engine
