"""Every IdType is validated by the core's column rules: good values pass, bad ones fail with
the format's code, and no message carries the value."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from sealroom.data_lab import ID_FORMATS, IdType
from sealroom.model.columns import Column, TableSchema
from sealroom.validation import validate_table

SHA = "a" * 64
GOOD: dict[IdType, list[str]] = {
    IdType.STRING: ["anything", "with space"],
    IdType.EMAIL: ["ann@bank.example", "a.b+c@x.co"],
    IdType.HASHED_EMAIL: [SHA, "ABCDEF" + "0" * 58],
    IdType.PHONE_NUMBER: ["+41791234567", "+12"],
    IdType.HASHED_PHONE_NUMBER: [SHA],
    IdType.MAID: ["6D92078A-8246-4BA4-AE5B-76104861E7DC", "38400000-8cf0-11bd-b23e-10b96e40000d"],
    IdType.HASHED_MAID: [SHA],
    IdType.UTIQ_MARTECH: ["mtp-1f2e3d"],
    IdType.UTIQ_ADTECH: ["atp-9a8b"],
    IdType.FIRST_ID: ["fid.123"],
    IdType.ID5: ["ID5*abc"],
    IdType.NET_ID: ["netid-xyz"],
    IdType.ONE_ID: ["oneid_1"],
    IdType.IPV4_ADDRESS: ["192.168.0.1", "0.0.0.0", "255.255.255.255"],
}
BAD: dict[IdType, list[str]] = {
    IdType.EMAIL: ["secret-not-an-email", "a@b", "a b@c.example"],
    IdType.HASHED_EMAIL: ["a" * 63, "g" * 64, "secret"],
    IdType.PHONE_NUMBER: ["0791234567", "+0123", "+1234567890123456"],
    IdType.HASHED_PHONE_NUMBER: ["secret"],
    IdType.MAID: ["6D92078A82464BA4AE5B76104861E7DC", "6D92078A-8246-4BA4-AE5B-76104861E7D", "zz"],
    IdType.HASHED_MAID: ["6D92078A-8246-4BA4-AE5B-76104861E7DC"],
    IdType.IPV4_ADDRESS: ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "::1"],
}
# The vendor tokens and STRING have no public syntax: only an empty value is refused.
for _kind, _fmt in ID_FORMATS.items():
    BAD.setdefault(_kind, [""])


def report_for(kind: IdType, values: list[str]) -> dict[str, object]:
    schema = TableSchema(
        columns=(
            Column(name="row", format_type=ID_FORMATS[IdType.STRING], is_nullable=False),
            Column(name="id", format_type=ID_FORMATS[kind], is_nullable=False),
        )
    )
    data = "".join(f"r{i},{v}\n" for i, v in enumerate(values)).encode()
    body: dict[str, object] = validate_table(pa.py_buffer(data), schema).report["report"]
    return body


def test_every_id_type_has_a_format() -> None:
    assert set(ID_FORMATS) == set(IdType)
    assert len(IdType) == 14


@pytest.mark.parametrize("kind", list(IdType))
def test_good_values_pass(kind: IdType) -> None:
    body = report_for(kind, GOOD[kind])
    assert body["outcome"] == "PASSED", body


@pytest.mark.parametrize("kind", list(IdType))
def test_bad_values_fail_without_leaking(kind: IdType) -> None:
    bad = BAD[kind]
    body = report_for(kind, bad)
    assert body["outcome"] == "FAILED"
    assert body["numInvalidRowsTotal"] == len(bad)
    text = json.dumps(body)
    for value in bad:
        if len(value) > 3:
            assert value not in text
