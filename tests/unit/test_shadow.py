"""The thing-shadow merge rules of seeds/004, one test per rule."""

from __future__ import annotations

import pytest

from domain.errors import ValidationFailed
from domain.shadow import merge_shadow

DOC = {"a": 1, "nested": {"x": 1, "y": 2}, "list": [1, 2]}


def test_null_document_deletes_everything() -> None:
    assert merge_shadow(DOC, None) is None


def test_empty_object_changes_nothing() -> None:
    assert merge_shadow(DOC, {}) == DOC


def test_keys_are_added_and_replaced_and_nested_objects_merge() -> None:
    assert merge_shadow(DOC, {"b": True, "a": "one", "nested": {"y": 3, "z": {"q": 1}}}) == {
        "a": "one", "b": True, "nested": {"x": 1, "y": 3, "z": {"q": 1}}, "list": [1, 2]}


def test_null_value_deletes_the_key_even_nested() -> None:
    assert merge_shadow(DOC, {"a": None, "nested": {"x": None}}) == {
        "nested": {"y": 2}, "list": [1, 2]}


def test_arrays_replace() -> None:
    assert merge_shadow(DOC, {"list": [3]})["list"] == [3]  # type: ignore[index]


def test_inputs_are_not_modified() -> None:
    before = {"nested": {"x": 1}}
    merge_shadow(before, {"nested": {"x": 2}})
    assert before == {"nested": {"x": 1}}


@pytest.mark.parametrize("patch", [[1], "x", 3])
def test_non_objects_are_refused(patch: object) -> None:
    with pytest.raises(ValidationFailed):
        merge_shadow(DOC, patch)


def test_depth_is_bounded() -> None:
    deep: dict[str, object] = {}
    cursor = deep
    for _ in range(20):
        cursor["k"] = {}
        cursor = cursor["k"]  # type: ignore[assignment]
    with pytest.raises(ValidationFailed):
        merge_shadow({}, deep)
