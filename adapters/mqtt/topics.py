"""What the bus knows of MQTT topics: filter matching (+ and #), the kind of a topic (for
per-kind metrics), and the error publish() raises when no connection comes in time."""

from __future__ import annotations

import aiomqtt


class BusUnavailable(aiomqtt.MqttError):
    """No broker connection within the publish timeout; the message was not sent."""


MAX_TOPIC_KINDS = 64


def topic_kind(topic: str) -> str:
    """What a topic is about, without ids: `node/<id>/params/local` -> params/local; other
    topics: their first level."""
    levels = topic.split("/")
    kind = "/".join(levels[2:]) if levels[0] == "node" and len(levels) > 2 else levels[0]
    return kind[:64] or "-"


def count_kind(counts: dict[str, int], topic: str) -> None:
    kind = topic_kind(topic)
    if kind not in counts and len(counts) >= MAX_TOPIC_KINDS:
        kind = "other"  # bounded: kinds become metric labels
    counts[kind] = counts.get(kind, 0) + 1


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT 3.1.1 §4.7: `+` is one level, `#` the rest (parent included); a filter starting
    with a wildcard does not match `$`-topics."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels = topic.split("/")
    for i, part in enumerate(topic_filter.split("/")):
        if part == "#":
            return True
        if i >= len(levels) or (part != "+" and part != levels[i]):
            return False
    return len(topic_filter.split("/")) == len(levels)
