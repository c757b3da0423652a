"""amqtt plugins that let the embedded broker ask Fleetgate who may connect and which topics
they may use. The decision object (DeviceAccess) arrives through the plugin's Config."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

log = logging.getLogger("fleetgate.mqtt.auth")


class FleetgateAuthPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        access: Any = None

    async def authenticate(self, *, session: Session) -> bool | None:
        access = self.context.config.access  # type: ignore[union-attr]
        try:
            allowed = bool(await access.authenticate(session.username, session.password,
                                                      session.client_id))
        except Exception:  # a failing check must refuse, never crash the broker
            log.exception("broker authentication check failed")
            return False
        if not allowed:
            log.warning("broker refused client %r (user %r)", session.client_id,
                        session.username)
        return allowed


class FleetgateTopicPlugin(BaseTopicPlugin):
    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(self, *, session: Session | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool | None:
        access = self.context.config.access  # type: ignore[union-attr]
        if session is None or action is None:
            return False
        allowed = bool(access.may_use_topic(session.username, topic, action.value))
        if not allowed and action != Action.RECEIVE:
            log.warning("broker refused %s on %r for %r", action.value, topic, session.username)
        return allowed
