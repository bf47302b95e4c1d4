"""The site config's `ui:` section. Left out, the page is off."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.errors import EdgekitError
from edge.web.security import check_bind, parse_password_hash


class UiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bind: str = "127.0.0.1"  # any other address needs password_hash or token_sha256
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (tests)
    password_hash: str | None = None  # `edgekit ui hash-password`
    token_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")  # `edgekit ui hash-password --token`
    max_upload_bytes: int = Field(5_000_000, ge=1000, le=100_000_000)  # an enrolment photo
    refresh_hz: float = Field(4.0, gt=0, le=30)  # the live view's refresh rate
    history_s: int = Field(6 * 3600, ge=60)  # how far back the health plots go
    sample_s: float = Field(5.0, ge=0.5)  # telemetry sampled this often for them
    events_kept: int = Field(500, ge=10, le=100_000)  # the newest events the events page shows

    @field_validator("password_hash")
    @classmethod
    def _scrypt(cls, v):
        if v is not None:
            parse_password_hash(v)
        return v

    @model_validator(mode="after")
    def _bind_needs_auth(self):
        try:
            check_bind(self.bind, self.password_hash, self.token_sha256)
        except EdgekitError as e:
            raise ValueError(str(e)) from None
        return self
