"""The doorbell's `learning:` config section: unknown visitors (edge.faces.unknowns), negative feedback
(edge.faces.feedback) and adaptation (edge.faces.adapt), each with its bounds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edge.faces.adapt import AdaptConfig
from edge.faces.feedback import NegativesConfig
from edge.faces.unknowns import UnknownsConfig


class LearningConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unknowns: UnknownsConfig = UnknownsConfig()
    negatives: NegativesConfig = NegativesConfig()
    adapt: AdaptConfig = AdaptConfig()
    # the embedding of each of the last N decisions is kept, so `reject EVENT_ID` can say what was not that person
    recent_events: int = Field(500, ge=1)
