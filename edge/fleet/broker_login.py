"""The in-process broker's one login, as an amqtt authentication plugin (imported by amqtt only, by name, when the
broker starts): a client must present the username and password generated for this device (edge.fleet.broker)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin


class LoginPlugin(BaseAuthPlugin):
    @dataclass
    class Config:
        username: str = ""
        password: str = ""

    async def authenticate(self, *, session) -> bool:
        cfg = self.config
        if not cfg.username or not cfg.password or session is None or not session.username:
            return False
        same_user = hmac.compare_digest(session.username.encode(), cfg.username.encode())
        same_password = hmac.compare_digest((session.password or "").encode(), cfg.password.encode())
        return same_user and same_password
