"""What may be stored: text without NUL or lone surrogates, bounded job metadata."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValueError, PayloadTooLargeError
from domain.jobs import check_metadata, merge_metadata
from domain.text import ensure_storable, ensure_storable_json, is_storable, storable


@given(st.text())
def test_storable_text_always_encodes_and_never_holds_nul(text: str) -> None:
    cleaned = storable(text)
    assert is_storable(cleaned)
    assert "\x00" not in cleaned
    cleaned.encode("utf-8")
    if is_storable(text):
        assert cleaned == text  # storable text is left alone


@pytest.mark.parametrize("bad", ["\x00", "a\x00", "\ud800", "x\udfffy"])
def test_nul_and_lone_surrogates_are_refused(bad: str) -> None:
    assert not is_storable(bad)
    with pytest.raises(InvalidValueError):
        ensure_storable(bad, "purpose")
    with pytest.raises(InvalidValueError):
        ensure_storable_json({"k": [bad]}, "metadata")
    with pytest.raises(InvalidValueError):
        ensure_storable_json({bad: 1}, "metadata")


def test_metadata_bounds() -> None:
    assert check_metadata({"a": {"b": [1, "x"]}}) == {"a": {"b": [1, "x"]}}
    with pytest.raises(InvalidValueError):
        check_metadata({str(i): i for i in range(65)})
    with pytest.raises(PayloadTooLargeError):
        check_metadata({"a": "x" * 16_400})
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["n"] = {}
        node = node["n"]  # type: ignore[assignment]
    with pytest.raises(InvalidValueError):
        check_metadata(deep)


def test_merge_removes_null_keys_and_respects_the_bound() -> None:
    assert merge_metadata({"a": 1, "b": 2}, {"a": None, "c": 3}) == {"b": 2, "c": 3}
    with pytest.raises(PayloadTooLargeError):
        merge_metadata({"a": "x" * 9000}, {"b": "y" * 9000})
