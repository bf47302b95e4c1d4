"""MQTT settings (the `mqtt:` section of the site config)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.fleet.outbox import OutboxConfig
from edge.fleet.security import SigningConfig


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
    transfer_timeout_s: float = Field(600.0, gt=0)  # a chunked transfer idle this long is dropped with its partial file


class GalleryUpdateConfig(Strict):
    """Fleet-wide galleries (`edgekit fleet push-gallery`): a signed export replaces the doorbell's gallery. Refused
    unless a public key is set, or, labs only, allow_unsigned."""

    public_key: str | None = None  # base64 Ed25519 public key of whoever signs galleries (`edgekit fleet keygen`)
    allow_unsigned: bool = False  # take a gallery without a signature (its commands still pass mqtt.signing)
    max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    transfer_timeout_s: float = Field(600.0, gt=0)  # a chunked transfer idle this long is dropped with its partial file


class DiscoveryConfig(Strict):
    """Home Assistant MQTT discovery."""

    enabled: bool = False
    prefix: str = "homeassistant"
    # the person sensor goes OFF only after this long without a face track (one ending as the next begins is no absence)
    person_off_delay_s: float = Field(2.0, ge=0, le=600)


class SnapshotConfig(Strict):
    """JPEGs of the camera on `snapshot/<camera>`: on demand (the `snapshot` command) and, if listed, on events."""

    camera: str = Field("camera", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    on_events: list[str] = []  # e.g. [face_recognized, face_unknown]: a snapshot of the frame that decided
    quality: int = Field(80, ge=10, le=100)
    max_width: int = Field(1280, ge=64)  # wider frames are scaled down: a snapshot must fit the broker's limits
    min_interval_s: float = Field(2.0, ge=0)  # event snapshots at most this often (a busy doorway is no video feed)


class MqttConfig(Strict):
    # No host: no broker is configured, so the device runs an in-process one (amqtt, MQTT 3.1.1) on
    # 127.0.0.1:port and a fresh machine works with nothing else running. Set host to report to a real broker.
    host: str | None = None
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = "5"  # MQTT 5 reports ACL refusals and carries response topics
    device_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # default: the site's device_id
    prefix: str = Field("edgekit/{device_id}/", description="topic prefix; {device_id} is replaced")
    # Replies go to `<prefix>cmd/<name>/reply` or to an MQTT 5 response topic under this operator tree (where
    # `edgekit fleet` listens); any other response topic (another device's commands, this one's own) is refused.
    operator_replies: str = Field("edgekit/_ops/", pattern=r"^[^#+]+/$")
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
    gallery_update: GalleryUpdateConfig = GalleryUpdateConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    snapshots: SnapshotConfig = SnapshotConfig()

    @property
    def embedded(self) -> bool:
        return self.host is None

    @property
    def broker_host(self) -> str:
        return self.host or "127.0.0.1"
