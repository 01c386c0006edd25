"""``station demo``: compose line footage from the bundled sample, replay it through the daemon,
and follow the verdicts live on the daemon's own ZeroMQ socket."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path

import numpy as np
import zmq

from station.config import Config
from station.endpoints import local_endpoint
from station.footage import Envelope, compose, judge, labelled_photos, read_truth
from station.gate import SAMPLE
from station.model import Model
from station.pipeline import RunOptions
from station.sources import VideoFileSource
from station.supervisor import run_pipeline
from station.wire import Disposition, VerdictMessage, WireError, read


def _follow(endpoint: str, stop: threading.Event, seen: list[VerdictMessage]) -> None:
    sub: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"verdict")
    sub.connect(endpoint)
    try:
        while not stop.is_set():
            if not sub.poll(100):
                continue
            try:
                msg = read(sub.recv_multipart())  # strict: the demo reads the wire as a gateway would
            except WireError as exc:
                print(f"  a message that is not the wire contract: {exc}", flush=True)
                continue  # its part counts as missing in the summary
            if not isinstance(msg, VerdictMessage):
                continue
            seen.append(msg)
            score = "  -  " if msg.score is None else f"{msg.score:.3f}"
            mark = "PASS  " if msg.verdict is Disposition.PASS else "REJECT"
            print(f"  part {msg.part_id:>3}  frame {msg.frame:>5}  {mark}  {msg.reason.value:<18} score {score}", flush=True)
    finally:
        sub.close()


def run_demo(cfg: Config, model: Model, parts: int = 12, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    photos = labelled_photos(SAMPLE)
    chosen = [photos[i] for i in rng.permutation(len(photos))[:parts]]
    with tempfile.TemporaryDirectory(prefix="station-demo-") as tmp:
        video = Path(tmp) / "line.mp4"
        env = Envelope(width=960, height=540, fps=30.0, speed=14.0, diameter=260.0)
        print(f"composing {len(chosen)} parts of line footage from {SAMPLE} ...", flush=True)
        compose(chosen, video, env, seed=seed)
        truth = read_truth(video)
        print(f"replaying {video.name} in real time through the daemon; verdicts as published on {cfg.publisher.endpoint}:", flush=True)
        seen: list[VerdictMessage] = []
        stop = threading.Event()
        cfg = _fixed_port(cfg)
        endpoint = local_endpoint(cfg.publisher.endpoint)
        follower = threading.Thread(target=_follow, args=(endpoint, stop, seen), name="demo-follow", daemon=True)
        follower.start()
        rc = run_pipeline(cfg, model, VideoFileSource(video), RunOptions(realtime=True))
        stop.set()
        follower.join(2.0)
    return _summary(truth, seen, rc)


def _fixed_port(cfg: Config) -> Config:
    """The follower connects before the daemon binds: a wildcard port (tcp://HOST:*) becomes a free one, chosen now."""
    if not cfg.publisher.endpoint.endswith(":*"):
        return cfg
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    publisher = cfg.publisher.model_copy(update={"endpoint": f"{cfg.publisher.endpoint[:-1]}{port}"})
    return cfg.model_copy(update={"publisher": publisher})


def _summary(truth: list[dict[str, str]], seen: list[VerdictMessage], rc: int) -> int:
    res = judge(truth, seen)
    print()
    print(f"{res['parts']} parts on the belt, {res['verdicts']} verdicts received")
    agree = min(res["parts"], res["verdicts"]) - res["wrong"]
    print(f"agree with ground truth: {agree}/{res['parts']}; defective parts passed: {res['escapes']}")
    return rc if res["missing_or_extra"] == 0 else 1
