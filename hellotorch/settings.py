"""How hard a profile measures each case: :class:`Measurement`, declared once.

A contract of the ground floor (no torch): the named profiles, the profile-file
format, the pytest child, the distributed ranks and ``hellotorch ab`` all read
this one declaration. A profile file's measurement keys, their types, their
defaults and their bounds are this dataclass's fields and metadata; the
settings cross every process boundary whole, as ``dataclasses.asdict``
(:meth:`Measurement.to_json` / :meth:`Measurement.from_json`), never as a
hand-made dict of the keys one side happened to need.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _setting(default: Any, *, low: float | None = None, high: float | None = None, zero_ok: bool = False):
    """A field with its bounds: ``low < value <= high`` (or 0 where ``zero_ok``); ``inf`` never passes."""
    return field(default=default, metadata={"low": low, "high": high, "zero_ok": zero_ok})


#: the ``allocator`` fact of a process that set no policy (and of runs made before the fact was recorded).
DEFAULT_ALLOCATOR_POLICY = "C library default"


@dataclass(frozen=True)
class Measurement:
    """How hard a profile measures each case. Defaults are a profile file's."""

    #: pytest-benchmark: seconds of timed rounds per case ...
    max_time: float = _setting(0.5, low=0, high=60)
    #: ... and at least this many rounds.
    min_rounds: int = _setting(10, low=0, high=10_000)
    #: interleaved eager/compiled pairs for the paired speedup (at least) ...
    pairs: int = _setting(30, low=0, high=10_000)
    #: seconds of steps in each timed block of a pair ...
    pair_block_seconds: float = _setting(0.01, low=0, high=10)
    #: ... after at least this many seconds of untimed steps (and a quarter of the block's): switching arms
    #: slowed the first 10-20 ms of a block; with 2.5 ms untimed the MLP's speedup read 1-1.5 % low.
    pair_warm_seconds: float = _setting(0.02, low=0, high=10, zero_ok=True)
    #: steps of the loss-parity curve of every compiled case.
    parity_steps: int = _setting(100, low=0, high=100_000)
    #: with ``cache_states``: also measure each state compiling block by block (doubles the cost).
    regional_compile: bool = True
    #: ... then more pairs until the median ratio's 95 % interval is within this fraction of it
    #: (None: exactly ``pairs``), but no more than ``max_pairs`` pairs or ``max_pair_seconds`` of them.
    speedup_ci: float | None = _setting(0.02, low=0, high=1)
    max_pairs: int = _setting(400, low=0, high=100_000)
    max_pair_seconds: float = _setting(8.0, low=0, high=3_600)
    #: with ``speedup_ci`` on a multi-threaded CPU: seconds of pairs in the threads' slow state a case may
    #: wait out (left out of the speedup, not counted against ``max_pair_seconds``); the state lasts 10-70 s here.
    state_wait_seconds: float = _setting(60.0, low=0, high=3_600, zero_ok=True)
    #: seconds a case may wait for the machine to be fit (no other process taking CPU): before it starts, and in
    #: pairs left out while it is contended; past it, the case is recorded disturbed and its speedup is no result.
    host_wait_seconds: float = _setting(30.0, low=0, high=3_600, zero_ok=True)
    #: seconds one case may take, compile and parity included; past it the case is recorded failed (timed out)
    #: and the run goes on. The slowest `full` case took about 90 s here.
    case_timeout_s: float = _setting(1_800.0, low=0, high=86_400)
    #: also time each case against the fixed reference workload (:mod:`hellotorch.measuring.reference_workload`)
    #: in interleaved pairs: ``step_per_reference``, what ``hellotorch ab --statistic reference`` compares.
    reference: bool = False
    #: keep the memory a step frees (glibc's mmap and trim thresholds fixed high, :mod:`hellotorch.measuring.allocator`):
    #: under the C library's default the CNN's step page-faulted its buffers in again, a different amount per process.
    steady_allocator: bool = True

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            check_setting(spec.name, getattr(self, spec.name), where="measurement")
        if self.speedup_ci is not None and self.max_pairs < self.pairs:
            raise ValueError(f"measurement: max_pairs ({self.max_pairs}) is below pairs ({self.pairs})")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurement:
        return cls(**data)


#: name -> the field's declaration: a profile file's measurement keys.
MEASUREMENT_KEYS: dict[str, dataclasses.Field] = {spec.name: spec for spec in dataclasses.fields(Measurement)}


def _kind(spec: dataclasses.Field) -> type:
    annotation = str(spec.type)
    return bool if annotation.startswith("bool") else int if annotation.startswith("int") else float


def check_setting(key: str, value: Any, *, where: str) -> Any:
    """``value`` for measurement key ``key``, or ``ValueError`` naming ``where`` and the key."""
    spec = MEASUREMENT_KEYS[key]
    kind = _kind(spec)
    if value is None and "None" in str(spec.type):
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: key {key!r} must be true or false")
        return value
    meta = spec.metadata
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)
    if ok:
        ok = math.isfinite(value) and (
            (value > meta["low"] and value <= meta["high"]) or (meta["zero_ok"] and value == 0)
        )
    if not ok:
        what = "a positive or zero" if meta["zero_ok"] else "a positive"
        raise ValueError(f"{where}: key {key!r} must be {what} {kind.__name__} of at most {meta['high']:g}")
    return kind(value)


def measurement_from_file(raw: dict[str, Any], *, where: str) -> Measurement:
    """The measurement a profile file's keys describe; the keys it leaves out take the defaults."""
    given = {key: check_setting(key, raw[key], where=where) for key in MEASUREMENT_KEYS if key in raw}
    try:
        return Measurement(**given)
    except ValueError as error:
        raise ValueError(f"{where}: {str(error).removeprefix('measurement: ')}") from None


#: How hard each named profile measures (their cases are :mod:`hellotorch.profiles.named`'s).
NAMED_MEASUREMENTS: dict[str, Measurement] = {
    "smoke": Measurement(max_time=0.2, min_rounds=5, pairs=10, parity_steps=20, speedup_ci=None, state_wait_seconds=0),
    # One case's cache states, whole-step only: regional compiling would double their cost.
    # At least 100 pairs, up to 8 s, until the speedup's interval is within 2 % (hellotorch.measuring.paired).
    "quick": Measurement(pairs=100, parity_steps=100, regional_compile=False),
    "compile": Measurement(max_time=0.3, pairs=10, parity_steps=20, speedup_ci=None, state_wait_seconds=0),
    "dist": Measurement(max_time=0.3, pairs=10, parity_steps=20, speedup_ci=None, state_wait_seconds=0),
    "full": Measurement(max_time=1.0, pairs=100, parity_steps=200),
}


def check_thread_count(threads: int, *, source: str = "thread count") -> int:
    """``threads`` if this machine can run it (1 to its logical CPUs); a ``ValueError`` naming ``source`` if not."""
    most = os.cpu_count() or 1
    if threads > most:
        raise ValueError(f"{source} {threads} is more than this machine's {most} logical CPUs")
    return threads


def is_profile_file(name: str) -> bool:
    return name.endswith(".toml") or "/" in name


def read_profile_toml(path: Path) -> dict[str, Any]:
    """A profile file's TOML, or ``ValueError`` naming the file."""
    if not path.is_file():
        raise ValueError(f"profile file {path} does not exist")
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"profile file {path} is not valid TOML ({str(error).splitlines()[0]})") from None


def profile_measurement(profile: str, *, folders: tuple[Path, ...] = (Path("."),)) -> Measurement | None:
    """How ``profile`` measures, read without building its cases (which imports its plug-in models).

    A profile file is looked for in ``folders`` in turn (a side of an A/B runs
    in its own checkout, where the file may be all there is). None: no such
    profile, or a file found nowhere.
    """
    if not is_profile_file(profile):
        return NAMED_MEASUREMENTS.get(profile)
    for folder in folders:
        path = folder / profile
        if path.is_file():
            return measurement_from_file(read_profile_toml(path), where=f"profile file {path}")
    return None
