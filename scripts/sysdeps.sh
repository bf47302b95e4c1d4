#!/usr/bin/env bash
# Debian packages the tests and the zoo build need: mosquitto (real broker in tests), socat (pty pairs), npm (npm pack
# for model sources), a C compiler (the Coral stub delegate), qemu-user-static (the emulated arm64 check), GStreamer's
# RTSP server with the system Python's bindings (a real RTSP camera in the tests: tests/rtsp_server.py runs under
# /usr/bin/python3), PostgreSQL (the fleet store's tests and bench start their own server from its binaries),
# headless Chromium and its driver (the web pages' tests, through selenium), OpenCV's sample data (vtest.avi: the
# people-walking and real-noise scenes of `edgekit bench cpu`). Installs only what is missing; needs root to install.
set -euo pipefail
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)
command -v socat >/dev/null || need+=(socat)
command -v npm >/dev/null || need+=(npm)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)  # make arm64-check (scripts/arm64)
gst_probe="import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer
Gst.init(None); assert all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay', 'x264enc', 'avdec_h264'))"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c "$gst_probe" 2>/dev/null || need+=(python3-gi python3-gst-1.0 \
  gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base \
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav)
command -v chromium >/dev/null && command -v chromedriver >/dev/null || need+=(chromium chromium-driver)  # web pages' tests
[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] || need+=(opencv-doc)  # edgekit bench cpu's scenes
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
