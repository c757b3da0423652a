"""The delivery side of FleetgateBroker (adapters/mqtt/amqtt_broker.py, whose docstring
numbers the amqtt 0.12.1 defects fixed): the retained replay of one subscription, each
message checked for RECEIVE (2); retain only where the access object allows it (3); the
broadcast over snapshots (5); a subscription naming the client's current session (6)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.session import Session

log = logging.getLogger("fleetgate.mqtt.broker")


class BrokerDelivery(Broker):
    """amqtt's Broker with fixes 2, 3, 5 and 6; `_access` is FleetgateBroker's."""

    _access: Any

    # --- 2: the retained replay of one subscription, each message checked -----------------

    async def _publish_retained_messages_for_subscription(
            self, subscription: tuple[str, int], session: Session) -> None:
        topic_filter, qos = subscription
        handler = self._get_handler(session)
        if handler is None:
            return
        tasks = []
        for topic, retained in list(self._retained_messages.items()):
            if not self._matches(topic, topic_filter):
                continue
            if not await self._topic_filtering(session, topic, Action.RECEIVE):
                continue
            tasks.append(asyncio.ensure_future(handler.mqtt_publish(
                retained.topic, retained.data, min(qos, retained.qos or qos), retain=True)))
        if tasks:
            await asyncio.wait(tasks)

    # --- 3: retain only where the access object allows it ----------------------------------

    async def retain_message(self, source_session: Session | None, topic_name: str | None,
                             data: bytes | bytearray | None, qos: int | None = None) -> None:
        if source_session is not None and topic_name is not None and self._access is not None:
            if not self._access.may_retain(source_session.username, topic_name):
                log.info("broker did not retain %r from %r: retain is for connectivity only",
                         topic_name, source_session.client_id)
                return
        await super().retain_message(source_session, topic_name, data, qos)

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        """amqtt's, but a client id's subscription always names its current session: amqtt
        kept the first session object it saw for a client id, so a client that subscribed on
        a session the broker had dropped never received anything on its next connection."""
        qos = await super().add_subscription(subscription, session)
        if qos != 0x80:
            subscribers = self._subscriptions.get(subscription[0], [])
            for index, (held, _qos) in enumerate(subscribers):
                if held.client_id == session.client_id and held is not session:
                    subscribers[index] = (session, qos)
        return qos

    # --- 5: broadcast over snapshots --------------------------------------------------------

    async def _run_broadcast(self, running_tasks: Any) -> None:
        broadcast = await self._broadcast_queue.get()
        topic = broadcast["topic"]
        for k_filter, subscriptions in list(self._subscriptions.items()):
            if not self._matches(topic, k_filter):
                continue
            for target_session, sub_qos in list(subscriptions):
                qos = broadcast.get("qos", sub_qos)
                if not await self._topic_filtering(target_session, topic=topic,
                                                   action=Action.RECEIVE):
                    continue
                state = target_session.transitions.state
                if state != "connected":
                    if (not target_session.clean_session and qos in (1, 2)
                            and not target_session.is_anonymous):
                        await self._retain_broadcast_message(broadcast, qos, target_session)
                    continue
                handler = self._get_handler(target_session)
                if handler:
                    running_tasks.append(asyncio.ensure_future(
                        handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)))
