"""MQTT settings (the `mqtt:` section of the site config)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.io.outbox import OutboxConfig
from edge.io.security import SigningConfig


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsConfig(Strict):
    ca_file: str  # CA that signed the broker's certificate
    cert_file: str | None = None  # client certificate and key, for mutual TLS
    key_file: str | None = None


class ModelUpdateConfig(Strict):
    """Over-the-air model updates: refused unless a public key is set; only models already in models_dir update."""
    public_key: str | None = None  # base64 Ed25519 public key of whoever signs models (`edgekit fleet keygen`)
    models_dir: str | None = None  # default: $EDGEKIT_MODELS or the user cache
    max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    sample_frames: list[str] = []  # images the smoke test runs the new model on (default: a shipped photo)
    max_latency_ms: float = Field(2000.0, gt=0)  # a smoke-test run slower than this fails the update


class DiscoveryConfig(Strict):
    """Home Assistant MQTT discovery."""
    enabled: bool = False
    prefix: str = "homeassistant"


class MqttConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"  # MQTT 5 reports ACL refusals and carries response topics
    embedded: bool = False  # run an in-process broker (amqtt) on host:port (loopback only) instead of using one
    device_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # default: the site's device_id
    prefix: str = Field("edgekit/{device_id}/", description="topic prefix; {device_id} is replaced")
    username: str | None = None
    password: str | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5)
    outbox: OutboxConfig = OutboxConfig()
    telemetry_interval_s: float = Field(30.0, gt=0)
    max_payload_bytes: int = Field(64 * 1024, ge=256)  # a bigger command is refused unread
    max_inflight: int = Field(200, ge=1)
    signing: SigningConfig = SigningConfig()
    model_update: ModelUpdateConfig = ModelUpdateConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
