"""The frame loop, in parts with one job each: frame checks (frames), pacing by the peripherals (pacing), live
reconfiguration (reconfig), model hot-swap (hotswap), telemetry and run stats (telemetry), and the loop that drives
them and one app through the app protocol (runner). The systemd watchdog is the `notifier` the runner pets."""

from edge.loop.runner import FrameLoop

__all__ = ["FrameLoop"]
