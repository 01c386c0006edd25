"""The import graph the architecture promises (docs/architecture.md): messages at the bottom, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PKG = ROOT / "station"


def _imports() -> dict[str, set[str]]:
    """Each station module's run-time imports of other station modules (top level; TYPE_CHECKING blocks excluded)."""
    mods = {"station." + ".".join(p.relative_to(PKG).with_suffix("").parts).removesuffix(".__init__"): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("station"):
                found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods}
                found |= {node.module} & mods.keys()
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names} & mods.keys()
        graph[name] = found - {"station"}
    return graph


def test_the_station_has_no_import_cycle() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(n: str, path: list[str]) -> None:
        for m in sorted(graph[n]):
            assert m not in path, " -> ".join([*path[path.index(m) :], m])
            if m not in done:
                visit(m, [*path, m])
        done.add(n)

    for n in sorted(graph):
        visit(n, [n])


def test_the_messages_sit_on_the_wire_contract_alone() -> None:
    graph = _imports()
    assert graph["station.wire"] == set()
    assert graph["station.messages"] == {"station.wire"}


def test_loading_a_model_imports_neither_the_onnx_package_nor_sockets(tmp_path: Path) -> None:
    """The model's evidence head is read without the onnx package (a second to import on every start)."""
    code = (
        "import sys; from pathlib import Path; from station.model import Model; "
        "Model(Path('station/defaults/defect.onnx')); print(sorted(m for m in ('onnx', 'zmq') if m in sys.modules))"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "[]", p.stdout + p.stderr


# docs/architecture.md's layers, bottom first: a module imports only from its own layer or those below it.
LIBRARY = (
    "config config_base config_blocking config_gateway config_warnings settings_file source_kind errors files endpoints locate blobs"
    " preprocess unwrap model score runs onnxgraph tracks following matching refusals evidence gate camera imagesize frame_source stills"
    " sources gige footage keys httpserve inflight archive_layout"
)
LAYERS = [
    {"wire", "messages"},
    {*LIBRARY.split(), "metrics", "log", "ratelog", "reload", "signals", "travel"},
    {"stages", "resend"},
    {"pipeline", "supervisor", "archive", "review", "web", "notify"},
    {"offline", "export", "teach", "gateway"},
    {"entry", "cli", "cli_args", "__main__"},
]


def _layer(module: str) -> int:
    top = module.removeprefix("station.").split(".")[0]
    found = [k for k, names in enumerate(LAYERS) if top in names]
    assert found, f"{module}: in no layer of docs/architecture.md (add it there and here)"
    return found[0]


def test_no_module_imports_one_from_a_layer_above_it() -> None:
    graph = _imports()
    above = sorted(f"{m} -> {d}" for m, deps in graph.items() if m != "station" for d in deps if _layer(d) > _layer(m))
    assert above == []
