"""Running under systemd: the notify protocol with a frame-driven watchdog, and a graceful stop on SIGTERM."""

from edge.service.notify import Notifier
from edge.service.signals import GracefulStop

__all__ = ["Notifier", "GracefulStop"]
