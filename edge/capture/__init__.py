"""Frame sources behind one small interface, and the policy around them (reopen with backoff, newest frame wins)."""

from edge.capture.base import Capture, Frame, SourceError, open_source

__all__ = ["Capture", "Frame", "SourceError", "open_source"]
