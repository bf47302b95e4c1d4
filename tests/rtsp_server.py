#!/usr/bin/python3
"""A real RTSP camera for the tests: GStreamer's RTSP server (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
python3-gst-1.0, gstreamer1.0-plugins-{base,good,bad,ugly}) serving H.264 mp4 clips as they are
(`filesrc ! qtdemux ! h264parse ! rtph264pay`), over TCP or UDP as the client asks.

Run by the SYSTEM interpreter (/usr/bin/python3: the GObject bindings are Debian packages, not wheels); it imports
nothing from edgekit. Prints `READY <port>` once it listens.

  rtsp_server.py --port 8554 --media /door=clip.mp4 [--media /sizes=sizes.ts] [--user U --password P] [--stamp]
  rtsp_server.py --transcode footage.avi clip.mp4    # MJPG avi -> H.264 mp4 (x264, same frame rate), then exit
  rtsp_server.py --join sizes.ts small.mp4 big.mp4    # clips back to back in one MPEG-TS, then exit

Each client gets its own pipeline, from the clip's first frame (a camera starting a stream per session); at the clip's
end the stream ends (tests make clips as long as they need). A .ts made by --join plays clips of two sizes in one
stream (a resolution change mid-stream). --stamp re-encodes live and writes the
wall-clock time (ms) into each frame as it leaves for the encoder (a row of 16 px blocks, see edge/bench/stamp.py),
so a client can measure capture-to-event latency."""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

STAMP_BITS, STAMP_BLOCK = 40, 16  # must match edge/bench/stamp.py


def stamp_y_plane(info, width: int, millis: int) -> None:
    """Write `millis` (mod 2**40) as STAMP_BITS black/white blocks along the top of an NV12 frame's luma plane."""
    data, millis = info.data, millis % (1 << STAMP_BITS)
    for row in range(STAMP_BLOCK):
        base = row * width
        for bit in range(STAMP_BITS):
            value = 235 if (millis >> (STAMP_BITS - 1 - bit)) & 1 else 16
            start = base + bit * STAMP_BLOCK
            data[start : start + STAMP_BLOCK] = bytes([value]) * STAMP_BLOCK


def on_stamp(identity, buffer):
    import time

    caps = identity.get_static_pad("src").get_current_caps()
    width = caps.get_structure(0).get_value("width")
    # Python's reference makes the buffer itself look shared (not writable); its one memory block is not
    memory = buffer.peek_memory(0)
    ok, info = memory.map(Gst.MapFlags.WRITE)
    if ok:
        try:
            stamp_y_plane(info, width, int(time.time() * 1000))
        finally:
            memory.unmap(info)


def launch_line(clip: str, stamp: bool) -> str:
    """The clip's H.264 as it is (mp4: qtdemux; MPEG-TS: tsdemux), or re-encoded live with a time stamp."""
    demux = "tsdemux" if clip.endswith(".ts") else "qtdemux"
    head = f"filesrc location={clip} ! {demux} ! h264parse ! "
    if stamp:
        head += (
            "avdec_h264 ! videoconvert ! video/x-raw,format=NV12 ! identity name=stamp sync=true "
            "signal-handoffs=true ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=1 ! "
        )
    interval = 1 if stamp else -1  # SPS/PPS once a second (every frame is an IDR when stamped), else at each IDR
    return f"( {head}rtph264pay name=pay0 pt=96 config-interval={interval} )"


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, line: str, stamp: bool):
        super().__init__()
        self.set_launch(line)
        self.stamp = stamp
        self.connect("media-configure", self.configure)

    def configure(self, factory, media):
        if self.stamp:
            element = media.get_element().get_by_name("stamp")
            element.connect("handoff", on_stamp)


def serve(args) -> None:
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for spec in args.media:
        path, clip = spec.split("=", 1)
        factory = Factory(launch_line(clip, args.stamp), args.stamp)
        if args.user:
            permissions = GstRtspServer.RTSPPermissions()
            permissions.add_role_from_structure(
                Gst.Structure.new_from_string(
                    "camera, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )
            )
            factory.set_permissions(permissions)
        mounts.add_factory(path, factory)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "camera")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{args.port}")
    print(f"READY {server.get_bound_port()}", flush=True)
    GLib.MainLoop().run()


def transcode(src: str, dst: str) -> None:
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f"filesrc location={src} ! avidemux ! jpegdec ! videoconvert ! x264enc speed-preset=veryfast key-int-max=30 ! "
        f"video/x-h264,profile=high ! h264parse ! mp4mux ! filesink location={dst}"
    )
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        sys.exit(f"rtsp_server --transcode: {msg.parse_error()[0].message}")


def join(dst: str, clips: list[str]) -> None:
    """H.264 mp4 clips back to back as one MPEG-TS stream (a resolution change where the sizes differ). Done once,
    offline: served live through `concat`, the switch to the second clip stalled for seconds now and then."""
    Gst.init(None)
    branches = " ".join(f"filesrc location={c} ! qtdemux ! h264parse ! c." for c in clips)
    pipeline = Gst.parse_launch(
        f"concat name=c ! h264parse ! video/x-h264,stream-format=byte-stream ! mpegtsmux ! "
        f"filesink location={dst} {branches}"
    )
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        sys.exit(f"rtsp_server --join: {msg.parse_error()[0].message}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--media", action="append", default=[], help="/path=clip.mp4 (or .ts)")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--stamp", action="store_true")
    p.add_argument("--transcode", nargs=2, metavar=("SRC_AVI", "DST_MP4"))
    p.add_argument("--join", nargs="+", metavar=("DST_TS", "CLIP"))
    args = p.parse_args()
    if args.transcode:
        transcode(*args.transcode)
    elif args.join:
        join(args.join[0], args.join[1:])
    else:
        serve(args)


if __name__ == "__main__":
    main()
