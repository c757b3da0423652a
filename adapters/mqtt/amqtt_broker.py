"""FleetgateBroker: amqtt's Broker with the defects that matter at our trust boundary fixed.

amqtt is pinned exactly (pyproject.toml) because this module overrides private methods of
amqtt 0.12.1's Broker; tests/integration/test_embedded_broker_security.py pins each
behaviour below, so an upgrade that changes them fails there first.

What amqtt 0.12.1 does, and what this subclass does instead:

1. Sessions touched before authentication. A CONNECT with clean session deleted the existing
   session of that client id (its subscriptions included), and one without overwrote its
   credentials, before the password was checked; the refused client was then stored under
   that id. One unauthenticated CONNECT with the gateway's client id silently unsubscribed
   the gateway while its TCP connection stayed up. Here the CONNECT is authenticated first,
   on the incoming session alone; a refused client gets CONNACK "not authorized" and never
   reaches the session map.
2. Retained messages for anyone's filters. On connect, amqtt sent the new client the retained
   messages matching every filter any client held (the gateway's node/+/... included), and it
   never asked the topic plugin whether the client may receive them. Here a client gets the
   retained messages of its own subscriptions only, each checked for RECEIVE.
3. Retain is for connectivity only. Which topics may keep a retained message is the access
   object's decision (`may_retain`): a retained PUBLISH or will elsewhere is delivered as a
   plain message and not stored.
4. Wills bypassed the ACL. A will was broadcast without a PUBLISH check, so a device could
   leave a will on another node's topic. Here a CONNECT whose will topic the client may not
   publish to is refused.
5. "dictionary changed size during iteration". The broadcast loop iterated the subscription
   map (and each filter's subscriber list) across awaits of the topic plugin; a client
   subscribing meanwhile raised RuntimeError and the message was lost for every remaining
   subscriber. Here it iterates snapshots, as does the retained-message replay.
6. Stale subscriptions. A client id's subscription kept naming the first session object
   amqtt saw; after that session was dropped, the client's next connection got nothing.
   Here a subscription always names the client's current session.
7. A handler that never stops. BrokerProtocolHandler.stop() waits for its reader task to set
   an event the task skips when it is cancelled while closing; shutdown() then never
   returned. Here stopping a handler has a deadline, after which its transport is aborted.

The delivery side (the per-subscription retained replay of 2, and 3, 5, 6) is FleetgateBroker's
base, BrokerDelivery (adapters/mqtt/broker_delivery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from amqtt.contexts import Action
from amqtt.errors import AMQTTError, BrokerError, MQTTError, NoDataError
from amqtt.events import BrokerEvents
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import Session
from amqtt.utils import gen_client_id
from transitions import MachineError

from adapters.mqtt.broker_delivery import BrokerDelivery

log = logging.getLogger("fleetgate.mqtt.broker")

HANDLER_STOP_SECONDS = 1.0
"""How long stopping one client's protocol handler may take before its transport is aborted."""

_VERIFIED = "_fleetgate_verified"


def _abort(handler: BrokerProtocolHandler | None) -> None:
    """Closes a handler's socket at once, whatever state its tasks are in."""
    writer = getattr(getattr(handler, "writer", None), "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is not None:
        transport.abort()


class FleetgateBroker(BrokerDelivery):
    """Broker whose `access` object (see auth_plugins) also answers `may_retain`."""

    def __init__(self, config: dict[str, Any], *, access: Any = None) -> None:
        super().__init__(config)
        self._access = access
        self._closing = False

    def begin_stop(self) -> None:
        """Stops accepting clients before shutdown() cleans the sessions up: amqtt closed its
        listeners last, so a device reconnecting meanwhile got a session shutdown() never saw
        and went on publishing, acknowledged, into a broker nobody listened to."""
        self._closing = True
        for server in list(self._servers.values()):
            with contextlib.suppress(Exception):
                server.instance.close()

    # --- 1 and 4: authenticate the CONNECT before any session is touched --------------------

    async def _initialize_client_session(  # type: ignore[override]
        self, reader: Any, writer: Any, remote_address: str, remote_port: int,
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, incoming = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager)
        except AMQTTError as exc:
            raise AMQTTError(exc) from exc
        except MQTTError as exc:
            await writer.close()
            raise MQTTError(exc) from exc
        except NoDataError as exc:
            raise AMQTTError(exc) from exc

        if not incoming.client_id:
            incoming.client_id = gen_client_id()  # clean session only (amqtt refuses others)
        if not await self._admit(incoming):
            handler.attach(incoming, reader, writer)
            incoming.parent = 0
            with contextlib.suppress(Exception):
                await handler.mqtt_connack_authorize(False)
            await writer.close()
            raise AMQTTError(f"client {incoming.client_id!r} refused before any session "
                             f"was touched (user {incoming.username!r})")

        client_session = incoming
        if incoming.clean_session:
            await self._delete_session(incoming.client_id)
            incoming.parent = 0
        elif incoming.client_id in self._sessions:
            existing, _ = self._sessions[incoming.client_id]
            for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain",
                         "keep_alive", "username", "password"):
                setattr(existing, name, getattr(incoming, name))
            client_session = existing
            client_session.parent = 1
        else:
            incoming.parent = 0
        setattr(client_session, _VERIFIED, True)
        delay = self.config.get("timeout-disconnect-delay", 0)
        if client_session.keep_alive > 0 and isinstance(delay, int):
            client_session.keep_alive += delay
        return handler, client_session

    async def _admit(self, session: Session) -> bool:
        if self._closing:
            return False
        if not await super()._authenticate(session, None):  # type: ignore[arg-type]
            return False
        if session.will_flag and session.will_topic and not await self._topic_filtering(
                session, session.will_topic, Action.PUBLISH):
            log.warning("broker refused client %r: its will is on %r, a topic it may not "
                        "publish to", session.client_id, session.will_topic)
            return False
        return True

    async def _authenticate(self, session: Session, listener: Any) -> bool:
        """Already decided in _initialize_client_session, before the session map changed."""
        verified = bool(getattr(session, _VERIFIED, False))
        setattr(session, _VERIFIED, False)
        return verified

    # --- 2: retained messages of the client's own subscriptions, each checked ----------------

    async def _handle_client_session(self, reader: Any, writer: Any, client_session: Session,
                                     handler: BrokerProtocolHandler, server: Any,
                                     listener_name: str) -> None:
        """amqtt's, but for the retained replay after connect: only this session's own
        filters (a persistent session's), not every filter of every client."""
        authenticated = await self._authenticate(client_session, None)
        if client_session.client_id is None:
            raise BrokerError("Client ID was not correctly created/set.")
        while True:
            try:
                client_session.transitions.connect()
                break
            except (MachineError, ValueError):
                if client_session.transitions.is_connected():
                    log.info("client %r connected again: taking over its session",
                             client_session.client_id)
                    old = self._sessions[client_session.client_id]
                    await old[1].handle_connection_closed()
                    await self._stop_handler(old[1])
                    break
                await asyncio.sleep(1)  # reconnecting too quickly
        handler.attach(client_session, reader, writer)
        self._sessions[client_session.client_id] = (client_session, handler)
        await handler.mqtt_connack_authorize(authenticated)
        if not authenticated:
            await writer.close()
            return
        await self.plugins_manager.fire_event(BrokerEvents.CLIENT_CONNECTED,
                                              client_id=client_session.client_id,
                                              client_session=client_session)
        await handler.start()
        await self._publish_session_retained_messages(client_session)
        own = [f for f, subs in list(self._subscriptions.items())
               if any(s.client_id == client_session.client_id for s, _ in subs)]
        for topic_filter in own:
            await self._publish_retained_messages_for_subscription((topic_filter, 0),
                                                                   client_session)
        await self._client_message_loop(client_session, handler)

    # --- 7: stopping a handler has a deadline ----------------------------------------------

    async def _stop_handler(self, handler: BrokerProtocolHandler) -> None:
        try:
            async with asyncio.timeout(HANDLER_STOP_SECONDS):
                await handler.stop()
        except TimeoutError:
            log.warning("a client handler did not stop within %.1fs; its connection is aborted",
                        HANDLER_STOP_SECONDS)
            _abort(handler)
        except (asyncio.QueueEmpty, OSError):
            log.exception("failed to stop a client handler")
            _abort(handler)

    def abort_all(self) -> None:
        """Closes every client socket at once (the last step of a stop that ran out of time)."""
        for _session, handler in list(self._sessions.values()):
            _abort(handler)

