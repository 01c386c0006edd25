"""Command line: ``station run|replay|classify|check-config|demo|eval|teach|gateway|keys|archive``.

SIGTERM/SIGINT drain and exit; SIGHUP reloads the model (validated first; a bad one is refused).

Exit codes: 0 done, 1 runtime failure (camera, model, a dead stage), 2 bad configuration or input.
Errors are one line naming the key path or the file; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from station import __version__
from station.archive import probe
from station.cli_args import SEED, Parser, at_least, common, report_folder, teach_parser, tool_parsers
from station.config import Config, load_config, read_with
from station.config_blocking import check_blocking
from station.config_warnings import warnings as config_warnings
from station.endpoints import without_password
from station.errors import CameraError, ConfigError, InputError, ModelError, StationError, one_line
from station.files import inputs_apart, not_read, not_there, real, report_apart
from station.frame_source import FrameSource
from station.gate import admit_configured
from station.keys import server_keys
from station.log import configure, say
from station.model import Model
from station.pipeline import RunOptions
from station.review import load_token
from station.signals import SIGNALS, STOPS, Stopped
from station.source_kind import LIVE, source_kind
from station.stages.trigger import probe_recording
from station.stills import IMAGE_SUFFIXES
from station.supervisor import configured_source, run_pipeline

log = structlog.get_logger()


def load(args: argparse.Namespace, daemon: bool = False, source: str | None = None) -> tuple[Config, Model]:
    """Validate the config and pass its model through the gate; what the daemon would refuse at start, refused here.

    A model that fails the gate (station.gate) is a config error naming model.path. For the daemon
    (and check-config, which must say what ``run`` would) the CURVE keys and the archive folder
    are checked too, and unwise or unread settings logged, for ``source`` (replay's) in place of
    camera.source where given; ``model.shadow`` is admitted by the pipeline itself (and by check-config).
    """
    cfg = load_config(args.config, args.overrides)
    configure(cfg.logging.level, cfg.logging.format)
    model = admit_configured(cfg.model.path, "model.path", cfg.model.threads())
    if daemon:
        server_keys(cfg.publisher.curve)
        load_token(cfg)  # review.token_file: readable, a long enough token, and an archive to review
        if cfg.archive.dir is not None:
            probe(cfg.archive.dir)
        check_blocking(cfg, source)
        for w in config_warnings(cfg, source):
            log.warning("config_warning", warning=w)
    return cfg, model


def _rereader(args: argparse.Namespace) -> Callable[[], Config]:
    """Reads the same config file with the same --set overrides again (SIGHUP: model.path and model.shadow)."""
    return lambda: load_config(args.config, args.overrides)


def _out_apart(args: argparse.Namespace, cfg: Config, source: str) -> None:
    """--out (JSON lines, appended) never onto what the station reads: a recording or image folder given as the source, a
    video's ground truth, its models or its config (a verdicts file among the images was judged as a part)."""
    if args.out is not None:
        inputs_apart(args.out, "--out", [Path(source)] if Path(source).exists() else [], IMAGE_SUFFIXES, read_with(args.config, cfg))


def _recording(cfg: Config) -> FrameSource:
    """camera.source made (and, for a recording or image folder, opened once): ConfigError naming the key when it cannot
    be; a live camera is opened by the capture stage, which retries it."""
    try:
        source = configured_source(cfg)  # a recording that is not there, a pipeline this OpenCV cannot run
        if not source.live:  # a file that is no video, an empty folder: bad config, as check-config says
            probe_recording(cfg, source)  # opened once up front: a bad file is a one-line error before anything starts
    except CameraError as exc:
        raise ConfigError("camera.source", str(exc)) from None
    return source


def cmd_run(args: argparse.Namespace) -> int:
    cfg, model = load(args, daemon=True)
    _out_apart(args, cfg, cfg.camera.source)
    source = _recording(cfg)
    return run_pipeline(cfg, model, source, RunOptions(realtime=False, out=args.out), reread=_rereader(args))


def cmd_replay(args: argparse.Namespace) -> int:
    cfg, model = load(args, daemon=True, source=args.source)
    path = Path(args.source)
    if not path.exists():
        kind = source_kind(args.source)
        said = f"{kind.value}: replay takes a video file or an image folder (`station run` reads a live camera)" if kind in LIVE else ""
        raise CameraError(f"{args.source}: {said or not_there(path)}")
    _out_apart(args, cfg, args.source)
    source = configured_source(cfg, str(path))
    if source.live:
        raise CameraError(f"{path}: replay takes a video file or an image folder")
    probe_recording(cfg, source)
    opts = RunOptions(realtime=args.realtime, out=args.out)
    return run_pipeline(cfg, model, source, opts, progress=not args.no_progress, reread=_rereader(args))


def cmd_check(args: argparse.Namespace) -> int:
    cfg, model = load(args, daemon=True)
    _recording(cfg)
    shadow = ""
    if cfg.model.shadow is not None:  # run admits it when the pipeline is built: the same gate, the same key
        shadow = f", shadow {admit_configured(cfg.model.shadow, 'model.shadow', cfg.model.threads()).info.model_id}"
    print(
        f"config OK: model {model.info.model_id}{shadow}, source {without_password(cfg.camera.source)}, publisher {cfg.publisher.endpoint}"
    )
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    from station.offline.classify import classify_paths

    cfg, model = load(args)
    return classify_paths([Path(p) for p in args.paths], model, args.out, read_with(args.config, cfg))


def cmd_demo(args: argparse.Namespace) -> int:
    from station.offline.demo import run_demo

    cfg, model = load(args, daemon=True)
    return run_demo(cfg, model, parts=args.parts, seed=args.seed)


def cmd_eval(args: argparse.Namespace) -> int:
    from station.offline.evaluate import REPORT_FILES, evaluate_folder

    source = Path(args.source)
    if _footage(args):  # footage with its ground truth: replayed as the station runs it, binding no port
        from station.offline.evaluate_footage import OFFLINE, evaluate_video
        from station.offline.evaluate_footage import REPORT_FILES as FOOTAGE_REPORT

        _unjudged_shadow(load_config(args.config, args.overrides).model.shadow)  # OFFLINE sets it aside
        args.overrides = [*args.overrides, *OFFLINE]
        cfg, model = load(args)
        _report_apart(args, cfg, FOOTAGE_REPORT)
        return evaluate_video(source, cfg, model, Path(args.report))
    if not source.exists():  # said of the path given, not of the label folders a labelled folder would hold
        real(source)  # a link that loops: said so
        raise InputError(f"{source}: no such file or folder (give a labelled folder, or a video with its ground truth)")
    cfg, model = load(args)
    _unjudged_shadow(cfg.model.shadow)
    _report_apart(args, cfg, REPORT_FILES)
    return evaluate_folder(source, model, Path(args.report))


def _report_apart(args: argparse.Namespace, cfg: Config, names: Sequence[str]) -> None:
    """eval's report never written over the config, its model or another file the config names (``names``: its files)."""
    read = read_with(args.config, cfg)
    not_read(Path(args.report), "--report", read)
    report_apart(Path(args.report), names, read)


def _unjudged_shadow(shadow: Path | None) -> None:
    """eval judges model.path alone: a shadow model in the config is said to be set aside, with how to judge it."""
    if shadow is not None:
        print(one_line(f"station: note: model.shadow ({shadow}) is not judged: eval judges model.path alone; judge the "
                       f"shadow with --set model.path={shadow}"), file=sys.stderr)  # fmt: skip


def cmd_teach(args: argparse.Namespace) -> int:
    try:
        STOPS.install()  # SIGTERM as Ctrl-C: teaching's cleanup runs (no half-written model file left behind)
        return _teach(args)
    except Stopped as exc:
        return _stopped(exc)
    finally:
        STOPS.uninstall()


def _stopped(exc: Stopped) -> int:
    print(f"station teach: stopped by {signal.Signals(exc.signum).name}; no model written", file=sys.stderr)
    return 128 + exc.signum


def _teach(args: argparse.Namespace) -> int:
    try:
        with STOPS.held():  # a stop waits for the imports' end: one raised inside PyTorch's would leave it half set up
            import onnx  # noqa: F401
            import torch  # noqa: F401
    except ImportError:
        print("station: error: station teach needs PyTorch and onnx: pip install '.[train]'", file=sys.stderr)
        return 2
    from station.teach.command import teach

    cfg = load_config(args.config, args.overrides)
    configure(cfg.logging.level, cfg.logging.format)
    return teach(args, cfg)


def cmd_gateway(args: argparse.Namespace) -> int:
    from station.gateway.service import Gateway, build_outputs, follow, serve_metrics

    cfg = load_config(args.config, args.overrides)
    configure(cfg.logging.level, cfg.logging.format)
    if args.check_plc:
        if args.test_reject:
            raise InputError("--test-reject: --check-plc decides no part (time the actuator with the gateway running)")
        return _check_plc(cfg, args.write_back)
    if args.write_back:
        raise InputError("--write-back: only with --check-plc (the gateway itself writes every part's decision)")
    for w in config_warnings(cfg):  # the gateway's own (a Modbus timeout a stop cannot wait out); the station's are run's
        if w.startswith("gateway."):
            log.warning("config_warning", warning=w)
    if args.out is not None:
        not_read(args.out, "--out", read_with(args.config, cfg))
    SIGNALS.install()
    registry, served = serve_metrics(cfg)
    try:
        return follow(Gateway(cfg, build_outputs(cfg, args.out, registry), registry=registry, test_reject=args.test_reject))
    finally:
        if served is not None:
            served.close()


def _check_plc(cfg: Config, write_back: bool) -> int:
    from station.config_gateway import GatewayOutputKind
    from station.gateway.plccheck import check_plc, report
    from station.gateway.service import curve_keys, station_endpoints

    if cfg.gateway.output is not GatewayOutputKind.MODBUS:
        raise ConfigError("gateway.output", f"{cfg.gateway.output.value}: no PLC to check (set it to modbus)")
    station_endpoints(cfg)  # what the service reads at its start besides the PLC: a wrong one exits 2 here, not in a restart loop
    curve_keys(cfg)
    check = check_plc(cfg.gateway.modbus, write_back)
    print("\n".join(report(cfg.gateway.modbus, check)))
    return 0 if check.passed else 1


def cmd_keys(args: argparse.Namespace) -> int:
    from station.keys import create_keys

    public, secret = create_keys(Path(args.folder), args.name)
    print(f"public key: {public}\nsecret key: {secret} (keep it on this machine only)")
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    from station.export import export

    src = Path(args.archive)
    if not src.is_dir():
        what = "not a folder" if src.exists() else "no such archive folder"
        raise InputError(f"{src}: {what} (give archive.dir, the folder the station archives into)")
    not_read(Path(args.out), "OUT", [src])  # the archive's quota would prune it, and its next export would read it back
    try:
        STOPS.install()  # SIGTERM as Ctrl-C: the export made so far is removed, never left for teach to read as labelled
        done = export(src, Path(args.out), reviewed_only=args.reviewed_only)
    except Stopped as exc:
        got = "as it ended: the export is whole" if (Path(args.out) / "labels.csv").exists() else "nothing exported"
        print(f"station archive export: stopped by {signal.Signals(exc.signum).name}; {got}", file=sys.stderr)
        return 128 + exc.signum
    finally:
        STOPS.uninstall()
    for why in done.skipped:
        print(one_line(f"station archive export: not exported: {why}"), file=sys.stderr)
    if not done.archived:
        print(f"station archive export: {src} holds no archived parts (archive.dir keeps DAY/reject/ and DAY/pass/)", file=sys.stderr)
    elif args.reviewed_only and not sum(done.counts.values()) and not done.skipped:
        print(f"station archive export: no part in {src} is labelled yet (the live page's /review)", file=sys.stderr)
    print(f"exported to {args.out}: " + ", ".join(f"{k} {v}" for k, v in done.counts.items())
          + (f"; {len(done.skipped)} parts or folders not exported (named above)" if done.skipped else ""))  # fmt: skip
    if not args.reviewed_only and sum(done.counts.values()) > 0:
        print("sorted by the station's verdict, which is not a label: look at every crop and move the wrong ones, and sort "
              "review/ by hand (labels.csv says where each part was; docs/commissioning.md, section 2)")  # fmt: skip
    elif done.counts["review"]:
        print("review/ holds parts the station located nowhere: sort them by hand, or leave them out")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap: argparse.ArgumentParser = Parser(prog="station", description="Inline camera inspection station for cast parts.")
    ap.add_argument("--version", action="version", version=f"station {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="the daemon: inspect parts from camera.source")
    common(p)
    p.add_argument("--out", type=Path, help="also append each verdict as a JSON line to this file")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("replay", help="test mode: a video file or image folder through the same pipeline")
    p.add_argument("source")
    common(p)
    p.add_argument("--out", type=Path, help="append each verdict as a JSON line to this file")
    p.add_argument("--realtime", action="store_true", help="pace at the source's frame rate")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_replay)
    p = sub.add_parser("classify", help="classify images or folders (recursively); binds no ports")
    p.add_argument("paths", nargs="+")
    common(p)
    p.add_argument("--out", type=Path, help="write the JSON lines here instead of stdout")
    p.set_defaults(func=cmd_classify)
    p = sub.add_parser("check-config", help="validate the config and its model; exit 2 naming the key if wrong")
    common(p)
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("demo", help="compose line footage from the bundled sample and replay it through the daemon")
    common(p)
    p.add_argument("--parts", type=at_least(1, int), default=12, help="parts in the composed footage")
    p.add_argument("--seed", type=SEED, default=1)
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("eval", help="accuracy, escapes, false rejects, F1 and ROC AUC on a labelled folder or footage")
    p.add_argument("source", help="a labelled folder (def_front/, ok_front/), or a VIDEO with its ground truth VIDEO.csv beside it")
    common(p)
    p.add_argument("--report", type=report_folder, default="eval-report",
                   help="folder for the report: metrics.json, parts.csv, the pictures (default %(default)s)")  # fmt: skip
    p.set_defaults(func=cmd_eval)
    teach_parser(sub).set_defaults(func=cmd_teach)
    for p, func in zip(tool_parsers(sub), (cmd_gateway, cmd_archive, cmd_keys), strict=True):
        p.set_defaults(func=func)
    return ap


DAEMONS = ("run", "replay", "demo", "gateway")  # they drain on SIGTERM; the other commands stop at once


def _footage(args: argparse.Namespace) -> bool:
    """``station eval`` was given a file (footage), not a labelled folder: it replays it through a pipeline."""
    source = getattr(args, "source", None)
    return args.command == "eval" and source is not None and Path(source).exists() and not Path(source).is_dir()


def _drains(args: argparse.Namespace) -> bool:
    """The command runs a pipeline, which a stop drains: the daemons, and eval of footage (--check-plc is one-shot)."""
    return _footage(args) or (args.command in DAEMONS and not getattr(args, "check_plc", False))


def main(argv: list[str] | None = None) -> int:
    SIGNALS.install()  # again, for callers that come in here directly (python -m station.cli)
    args = build_parser().parse_args(argv)
    try:
        if not _drains(args):
            SIGNALS.release()  # a SIGINT already received raises KeyboardInterrupt here: exit 130
        rc = int(args.func(args))
        if sys.stdout is not None:  # None: started with standard output closed
            sys.stdout.flush()  # here, not at exit: a full disk or a closed pipe is one line too
        return rc
    except ConfigError as exc:
        say(one_line(f"station: config error: {exc}"))
        return 2
    except (CameraError, ModelError) as exc:
        say(one_line(f"station: error: {exc}"))
        return 2 if args.command in ("replay", "classify", "eval", "teach") else 1
    except StationError as exc:  # bad input: 2; anything else gone wrong at run time: 1
        say(one_line(f"station: error: {exc}"))
        return 2 if isinstance(exc, InputError) else 1
    except KeyboardInterrupt:
        return 130
    except Stopped as exc:  # a second stop while station teach said it was stopped
        return _stopped(exc)
    except BrokenPipeError:  # the reader of our output went away (`| head`): nothing left to tell it
        _mute_stdout()
        return 1
    except OSError as exc:  # a file the command was given or writes to (a name too long, a full disk), not caught nearer
        _mute_stdout()
        say(one_line(f"station: error: {_os_error(exc)}"))
        return 2
    except Exception as exc:  # a bug, or a library failing in a way nothing nearer knows (out of memory in PyTorch): one line
        say(one_line(f"station: internal error: {type(exc).__name__}: {exc} (a fault of the station, not of its input: "
                     "please report it with the command that made it)"))  # fmt: skip
        return 1
    finally:
        SIGNALS.retire()


def _os_error(exc: OSError) -> str:
    """The file and the system's word for what went wrong with it ("PATH: Permission denied"), not Python's form of it
    ("[Errno 13] Permission denied: 'PATH'"); some carry no file, some no text at all."""
    if exc.filename is not None and exc.strerror:
        return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _mute_stdout() -> None:
    """Send what is left of standard output nowhere: output that cannot be written must not fail again at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):  # no standard output at all (closed): nothing to mute
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
