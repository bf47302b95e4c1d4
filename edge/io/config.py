"""MQTT settings (the `mqtt:` section of the site config)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edge.io.outbox import OutboxConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(Strict):
    ca_file: str  # CA that signed the broker's certificate
    cert_file: str | None = None  # client certificate and key, for mutual TLS
    key_file: str | None = None


class MqttConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("edgekit/{device_id}/", description="topic prefix; {device_id} is replaced")
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5)
    outbox: OutboxConfig = OutboxConfig()
    telemetry_interval_s: float = Field(30.0, gt=0)
    max_payload_bytes: int = Field(64 * 1024, ge=256)
    max_inflight: int = Field(200, ge=1)
