"""A free-running GigE camera that vanishes is seen lost within a second, not after camera.stale_after_s."""

from __future__ import annotations

import time

from ..conftest import FakeGigE, wait_for
from ..proc import Station, sets


def test_a_vanished_free_running_camera_is_lost_within_1_5_s(gige: FakeGigE) -> None:
    extra = sets("camera.source=gige:Aravis-Fake-GV01", "camera.acquisition_fps=25", "camera.exposure_us=2000", "camera.stale_after_s=5")
    st = Station("run", extra=tuple(extra), heartbeat_ms=100)
    try:
        assert wait_for(lambda: st.metric("station_frames_total") > 10, 60), st.stderr()[-2000:]
        assert st.metric("station_camera_connected") == 1
        gige.kill()
        t_kill = time.monotonic()
        assert wait_for(lambda: st.metric("station_camera_connected") == 0, 5)
        seen = time.monotonic() - t_kill
        assert wait_for(lambda: any(b["state"] == "degraded" and at >= t_kill for b, at in st.beats()), 2)
        degraded = [at for b, at in st.beats() if b["state"] == "degraded" and at >= t_kill]
        print(f"lost after {seen:.2f} s, degraded after {degraded[0] - t_kill:.2f} s")
        assert seen < 1.5 and degraded[0] - t_kill < 1.5
        assert st.stop() == 0
    finally:
        st.close()
