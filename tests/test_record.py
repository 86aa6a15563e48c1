"""The declared record schema: writer and reader use the same field names, and bad values are named."""

import json
import math
import re
from pathlib import Path

import pytest

from hellotorch import record
from hellotorch.record import FIELDS, RecordError, validate_record
from hellotorch.results import compile_tables
from hellotorch.results.table import COLUMNS
from hellotorch.runfiles import COST_FIELDS, CURVE_FIELDS

from .fixtures_util import FIXTURE_RUN

PACKAGE = Path(__file__).parent.parent / "hellotorch"
RAW = json.loads((FIXTURE_RUN / "benchmark.json").read_text())
#: Keys the readers use that are not record fields: derived in table.py, or parts of the raw JSON and curves.
NOT_RECORD_KEYS = {"median_s", "iqr_s", "min_s", "stats", "best_eager_ms", "reason", "regressed", "speedup_cv", "cpu"}
NOT_RECORD_KEYS |= {"baseline_of", "benchmarks", "extra_info", "iqr", "machine_info", "median", *CURVE_FIELDS}
# The rows of compile_costs.jsonl have their own declared fields.
NOT_RECORD_KEYS |= set(COST_FIELDS) | set(compile_tables.DERIVED)


def _compiled():
    return dict(next(b["extra_info"] for b in RAW["benchmarks"] if b["extra_info"]["compiled"]))


def test_every_field_a_stored_run_holds_is_declared():
    for bench in RAW["benchmarks"]:
        assert set(bench["extra_info"]) <= set(FIELDS), set(bench["extra_info"]) - set(FIELDS)


def test_the_writer_cannot_use_an_undeclared_name():
    assert record.fields(speedup=1.5) == {"speedup": 1.5}
    with pytest.raises(KeyError, match="undeclared record field.*speedup_median"):
        record.fields(speedup_median=1.5)


@pytest.mark.parametrize(
    "module",
    [
        "results/table.py",
        "gate/check.py",
        "results/plots.py",
        "results/compare.py",
        "results/runs.py",
        "results/compile_tables.py",
    ],
)
def test_every_key_a_reader_looks_up_is_declared(module):
    source = (PACKAGE / module).read_text()
    keys = set(re.findall(r'\[\s*"([a-z_0-9]+)"\s*\]', source))
    assert keys - set(FIELDS) - set(COLUMNS) - NOT_RECORD_KEYS == set()


def test_a_field_renamed_by_the_writer_is_caught_by_the_reader():
    info = _compiled()
    info["speedup_median"] = info.pop("speedup")
    with pytest.raises(RecordError, match="lacks field.*speedup"):
        validate_record(info, where="run.json")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("speedup", math.nan, "field 'speedup' is NaN"),
        ("speedup", math.inf, "not a finite number"),
        ("speedup", "1.5", "must be a number, got '1.5'"),
        ("speedup", -1.0, "below its minimum"),
        ("batch_size", 64.0, "must be a whole number"),
        ("batch_size", True, "must be a whole number"),
        ("status", "great", "expected one of: ok, failed"),
        ("compiled", "yes", "must be true or false"),
        ("model", "other", "'id' does not match its fields"),
        ("speedup_q1", 99.0, "outside its quartiles"),
    ],
)
def test_a_bad_value_is_named_with_its_field(field, value, message):
    info = _compiled()
    info[field] = value
    with pytest.raises(RecordError, match=re.escape(message) if "'" in message else message):
        validate_record(info, where="run.json")


def test_nan_is_allowed_where_it_means_not_measured():
    info = _compiled()
    info["parity_fp64_error_ratio"] = math.nan
    assert math.isnan(validate_record(info, where="run.json")["parity_fp64_error_ratio"])


def test_undeclared_keys_of_a_newer_writer_are_dropped_not_refused():
    info = _compiled()
    info["something_new"] = [1, 2]
    assert "something_new" not in validate_record(info, where="run.json")
