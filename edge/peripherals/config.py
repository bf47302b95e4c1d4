"""Typed config for serial peripherals (the `peripherals:` section of a site YAML). Every part is optional: a site
with no microcontroller and no GPS simply leaves it out. extra="forbid" so a misspelt key names itself."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

URL_SCHEMES = {"loop", "socket", "rfc2217", "spy", "hwgrep", "alt"}  # pyserial's protocol handlers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PortConfig(Strict):
    # Anything pyserial's serial_for_url opens: /dev/ttyUSB0, /dev/serial/by-id/..., a pty path, loop://,
    # socket://host:port, rfc2217://host:port.
    url: str = Field(..., min_length=1)
    baudrate: int = Field(115200, gt=0)
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    max_line_bytes: int = Field(256, ge=16)  # a longer run without a newline is noise: dropped, not buffered forever

    @field_validator("url")
    @classmethod
    def _openable(cls, v: str) -> str:
        # A missing device is transient (unplugged: reopened with backoff); a URL pyserial cannot open never heals.
        scheme = v.split("://", 1)[0] if "://" in v else None
        if scheme is not None and scheme not in URL_SCHEMES:
            raise ValueError(
                f"unknown serial URL scheme {scheme!r}: use a device path or one of "
                + ", ".join(f"{s}://" for s in sorted(URL_SCHEMES))
            )
        if scheme is None and not (v.startswith("/") or v.upper().startswith("COM")):
            raise ValueError(f"{v!r} is not a device path: use e.g. /dev/ttyUSB0, /dev/serial/by-id/... or loop://")
        return v


class TriggersConfig(Strict):
    """Line protocol from a microcontroller: `BUTTON [name]` or `MOTION [name]`, one per line."""

    port: PortConfig
    burst_s: float = Field(10.0, gt=0)  # full-rate recognition for this long after a trigger
    # Outside a burst the loop runs at this rate. Keep it above 2/WatchdogSec: frames must keep flowing to pet it.
    idle_fps: float = Field(1.0, gt=0)
    kinds: list[str] = ["BUTTON", "MOTION"]  # which line kinds start a burst

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - {"BUTTON", "MOTION"})
        if bad:
            raise ValueError(f"unknown trigger kind {bad}: use BUTTON and/or MOTION")
        return v


class RelayConfig(Strict):
    """Door strike on a microcontroller: we send `UNLOCK <seconds>` (and `LOCK`); it drives the relay and times it."""

    port: PortConfig
    authorized: list[str] = Field(..., min_length=1)  # gallery identities that may open the door
    unlock_s: float = Field(3.0, gt=0, le=60)
    cooldown_s: float = Field(10.0, ge=0)  # no second unlock within this many seconds of the last
    interlock_unknown: bool = True  # never unlock while an unknown face is in view (and re-lock when one appears)
    unknown_hold_s: float = Field(120.0, gt=0)  # forget an unknown face after this long even if no face_left came


class GpsConfig(Strict):
    port: PortConfig = PortConfig(url="/dev/serial0", baudrate=9600)
    max_age_s: float = Field(5.0, gt=0)  # an older fix is not reported (the receiver went quiet or lost the sky)


class PeripheralsConfig(Strict):
    triggers: TriggersConfig | None = None
    relay: RelayConfig | None = None
    gps: GpsConfig | None = None
