"""Node rules: versioned params shadow, idempotent ingest, stale connectivity, tags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.devices.model import Node
from domain.errors import Conflict, ValidationFailed

AT = datetime(2026, 1, 1, tzinfo=UTC)


def node() -> Node:
    return Node(id="n1", org_id="o", created_at=AT)


def test_reported_params_merge_per_device_and_bump_the_version() -> None:
    n = node()
    assert n.apply_reported({"Light": {"power": True, "level": 5}}, AT, full=True)
    assert n.apply_reported({"Light": {"level": 7}, "Fan": {"speed": 2}}, AT)
    assert n.reported == {"Light": {"power": True, "level": 7}, "Fan": {"speed": 2}}
    assert n.params_version == 2
    assert [e.kind for e in n.events] == ["node_params_changed"] * 2


def test_a_duplicated_message_changes_nothing_twice() -> None:
    n = node()
    n.apply_reported({"Light": {"power": True}}, AT)
    assert not n.apply_reported({"Light": {"power": True}}, AT)
    assert n.params_version == 1 and len(n.events) == 1


def test_init_replaces_the_reported_state() -> None:
    n = node()
    n.apply_reported({"Light": {"power": True}, "Fan": {"speed": 1}}, AT)
    n.apply_reported({"Light": {"power": False}}, AT, full=True)
    assert n.reported == {"Light": {"power": False}}


@pytest.mark.parametrize("params", [None, [], {}, {"Light": 1}, {"": {}}, "x"])
def test_malformed_params_are_refused(params: object) -> None:
    with pytest.raises(ValidationFailed):
        node().apply_reported(params, AT)


def test_stale_desired_writer_gets_conflict() -> None:
    n = node()
    n.apply_reported({"Light": {"power": True}}, AT)
    read = n.params_version
    n.set_desired({"Light": {"power": False}}, AT, expected_version=read)
    with pytest.raises(Conflict):
        n.set_desired({"Light": {"power": True}}, AT, expected_version=read)
    assert n.desired == {"Light": {"power": False}}


def test_late_last_will_does_not_mark_a_reconnected_node_offline() -> None:
    n = node()
    assert n.apply_connection(True, 2000, AT)
    assert not n.apply_connection(False, 1000, AT)  # the will of the previous connection
    assert n.connectivity.connected
    assert n.apply_connection(False, 3000, AT)
    assert [e.kind for e in n.events] == ["node_connected", "node_disconnected"]


def test_config_sets_queryable_info_once() -> None:
    n = node()
    config = {"node_id": "n1", "config_version": "2020-01", "info": {
        "name": "Lamp", "type": "Lightbulb", "model": "L1", "fw_version": "1.0"}, "devices": []}
    assert n.apply_config(config, AT)
    assert (n.name, n.type, n.model, n.fw_version) == ("Lamp", "Lightbulb", "L1", "1.0")
    assert not n.apply_config(dict(config), AT)
    with pytest.raises(ValidationFailed):
        n.apply_config({**config, "node_id": "other"}, AT)


def test_config_refuses_nul_anywhere() -> None:
    """A device's "\\u0000" in its config (in a key or value, however deep) would break every
    query of its organization that reads a config field as text on PostgreSQL (the subtype
    filter of admin searches): refused, the node unchanged. Params are never read as text
    in SQL, so they keep what the device sent."""
    n = node()
    for bad in ({"node_id": "n1", "info": {"subtype": "lamp\x00"}},
                {"node_id": "n1", "devices": [{"params": [{"na\x00me": 1}]}]}):
        with pytest.raises(ValidationFailed):
            n.apply_config(bad, AT)
    assert n.config is None and n.events == []
    assert n.apply_reported({"Light": {"label": ["a", {"b": "\x00"}]}}, AT)


def test_tags_are_key_value_and_deduplicated() -> None:
    n = node()
    n.add_tags(["location:pune", "floor:1", "location:pune"])
    n.remove_tags(["floor:1"])
    assert n.tags == ["location:pune"]
    with pytest.raises(ValidationFailed):
        n.add_tags(["no-colon"])


def test_metadata_follows_the_thing_shadow_rules() -> None:
    n = node()
    n.update_metadata({"room": {"name": "Hall", "floor": 1}})
    n.update_metadata({"room": {"floor": None}})
    assert n.metadata == {"room": {"name": "Hall"}}
    n.update_metadata(None)
    assert n.metadata is None


def test_tags_refuse_control_characters() -> None:
    """PostgreSQL keeps "\\u0000" in a json column but cannot read it back as text, which a
    tag filter does: such tags are refused on every database."""
    import pytest

    from domain.devices.model import check_tags
    from domain.errors import ValidationFailed

    assert check_tags(["site:pune", "floor:2"]) == ["site:pune", "floor:2"]
    for bad in ("a\x00:b", "a:b\x1f", "a:\nb"):
        with pytest.raises(ValidationFailed):
            check_tags([bad])
