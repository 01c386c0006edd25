"""Settings files: a YAML mapping read with errors naming the file, ``--set`` overrides, relative paths.

The parts of loading a config that know nothing of its sections (``station.config`` declares those).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from station.errors import ConfigError, InputError
from station.files import read_bounded, real, why

MAX_CONFIG_BYTES = 1 << 20  # a station's config is a few kilobytes
MAX_VALUES = 100_000  # values a YAML document may hold once its aliases are written out (an alias bomb holds billions)


class Unreadable(ValueError):
    """A YAML document that parses but must not be taken: what is wrong with it, in words."""


class TooBig(Unreadable):
    """A YAML document whose aliases (*name) write out to more than MAX_VALUES values, or to themselves, or nested too deep."""


ALIASES = f"it holds more than {MAX_VALUES} values once its aliases (*name) are written out, or an alias holds itself"


INT, FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
STR, MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
SHELL_WORD = re.compile(r"^~|(^|/)\$(\{|[A-Za-z_])")  # a path written for a shell to expand: ~/x, $HOME/x, /srv/${LINE}
DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9_]*)")  # the one way to write an integer here: 0x1F, 0b101 and 0755 are refused
KEY_KINDS = {"int": "a number", "float": "a number", "null": "nothing (null)", "bool": "true or false", "timestamp": "a date"}


def _unshared(value: Any) -> Any:
    """``value`` with every mapping and list a copy of its own: an alias (``pipeline: *q``) made two sections one object,
    and ``--set camera.queue_size=4`` set ``pipeline.queue_size`` too (a bomb of them is refused before: MAX_VALUES)."""
    if isinstance(value, dict):
        return {k: _unshared(v) for k, v in value.items()}
    return [_unshared(v) for v in value] if isinstance(value, list) else value


def _values(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values ``node`` holds once every alias in it is written out; each node counted once (memo), a cycle raises."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_:
        raise TooBig(ALIASES)
    open_.add(id(node))
    n = 1
    if isinstance(node, yaml.ScalarNode) and node.tag in (INT, FLOAT) and ":" in node.value:  # YAML 1.1's base 60
        raise Unreadable(f"{node.value} (line {node.start_mark.line + 1}) is a base-60 number to YAML ({yaml.safe_load(node.value)}): "
                         "write the number, or quote it for a string")  # fmt: skip
    if isinstance(node, yaml.ScalarNode) and node.tag == INT and not DECIMAL.fullmatch(node.value):  # 010 is 8 to YAML 1.1
        shown = yaml.safe_load(node.value) if len(node.value) <= 20 else "another number"
        raise Unreadable(f"{node.value[:20]}{'...' * (len(node.value) > 20)} (line {node.start_mark.line + 1}) is read by YAML as "
                         f"{shown} (octal, binary or hexadecimal): write the number in decimal without leading zeros")  # fmt: skip
    if isinstance(node, yaml.SequenceNode):
        n += sum(_values(child, sizes, open_) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        _one_each(node)
        n += sum(_values(k, sizes, open_) + _values(v, sizes, open_) for k, v in node.value)
    open_.discard(id(node))
    sizes[id(node)] = n = min(n, MAX_VALUES + 1)
    if n > MAX_VALUES:
        raise TooBig(ALIASES)
    return n


def _one_each(node: yaml.MappingNode) -> None:
    """A key given twice in one mapping: YAML keeps the last without a word (a second ``curve:`` would drop the first)."""
    seen: set[str] = set()
    for key, _ in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag not in (STR, MERGE):  # ``1:``, ``null:`` or ``yes:`` reached the
            kind = KEY_KINDS.get(key.tag.rsplit(":", 1)[-1], key.tag)  # model as 1, None or True
            raise Unreadable(f"the key {key.value or '(empty)'} (line {key.start_mark.line + 1}) is read as {kind}, "
                             "not a name: quote it, or name the setting")  # fmt: skip
        if isinstance(key, yaml.ScalarNode):  # ``<<`` twice too: the last merge won (``<<: [*a, *b]`` merges both)
            if key.value in seen:
                raise Unreadable(f"the key {key.value!r} is given twice in one mapping (line {key.start_mark.line + 1}): keep one")
            seen.add(key.value)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, refusing a document that its aliases would blow up (a billion laughs) before it is built."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _values(node, {}, set())
        return _unshared(loader.construct_document(node))
    except RecursionError:
        raise TooBig("it nests lists or mappings too deep to read") from None
    except Unreadable:
        raise
    except ValueError as exc:  # a YAML value Python cannot make (an integer of more than 4300 digits)
        raise Unreadable(f"a value it cannot read: {exc}") from None
    finally:
        loader.dispose()


def read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping in ``path`` (empty for an empty file); a file that is not one is a ConfigError naming it."""
    try:
        text = read_bounded(path, MAX_CONFIG_BYTES, "a config file").decode()
    except OSError as exc:
        raise ConfigError("", f"{path}: {why(exc, 'cannot read config file')}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{path}: not text (UTF-8): byte {exc.start} cannot be read") from None
    try:
        data = load_yaml(text)
    except Unreadable as exc:
        raise ConfigError("", f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        if problem == "mapping values are not allowed here":  # `source: gige:`: a value that ends in a colon
            problem += ' (a value with a colon in it is a string only in quotes, e.g. source: "gige:")'
        raise ConfigError("", f"{path}: invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("", f"{path}: the top level must be a mapping of sections")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> str:
    """Apply one ``dotted.key=yaml_value`` override in place; the key it set."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError("", f"--set {assignment!r}: expected KEY=VALUE")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except Unreadable as exc:
        raise ConfigError(key, f"--set value: {exc}") from None
    except yaml.YAMLError:
        raise ConfigError(key, f"--set value {raw!r} is not valid YAML") from None
    node = data
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(key.strip(), "a key is names joined by dots, none of them empty (e.g. camera.source)")
    if isinstance(value, dict):  # it replaced the file's whole section: every other key in it went back to its default
        said = "--set takes a value, not a mapping: a section's keys are set one at a time (SECTION.KEY=VALUE)"
        if list(value.values()) == [None]:  # `camera.source=gige:`: YAML for {gige: null}
            said += f'; a value with a colon is a string only in quotes: "{next(iter(value))}:"'
        raise ConfigError(key.strip(), said)
    for p in parts[:-1]:
        child = node.setdefault(p, {})
        if not isinstance(child, dict):
            raise ConfigError(key, f"{p} is not a section")
        node = child
    node[parts[-1]] = value
    return ".".join(parts)


def _resolved(path: Path, key: str) -> Path:
    """``path`` made absolute, its links followed (the check: the path is kept as given); ConfigError naming ``key`` for links
    that lead round in a loop."""
    try:
        return real(path)
    except InputError as exc:
        raise ConfigError(key, str(exc)) from None


def resolve_paths(model: BaseModel, base: Path, given: frozenset[str] = frozenset(), here: Path | None = None) -> BaseModel:
    """``model`` with every relative Path field, in any section, taken against ``base`` (the config file's folder); a
    field whose dotted key, or a section above it, is in ``given`` (set on the command line) against ``here`` (the
    working directory), as any path typed in a shell is."""

    def typed_from(key: str) -> Path:
        try:
            return here or Path.cwd()
        except OSError as exc:  # the working directory was deleted under a running station (a SIGHUP re-reads the config)
            raise ConfigError(key, f"a relative path given with --set, and no working directory: {exc.strerror or exc}") from None

    def fix(m: BaseModel, prefix: str, typed: bool) -> BaseModel:
        upd: dict[str, Any] = {}
        for name in type(m).model_fields:
            v, key = getattr(m, name), f"{prefix}{name}"
            mine = typed or key in given
            if isinstance(v, Path) and "\0" in str(v):  # no file is named so: every use of it would raise
                raise ConfigError(key, "a path cannot hold a NUL character")
            if isinstance(v, Path) and SHELL_WORD.search(str(v)):  # ~/arch was a folder named ~ beside the config
                raise ConfigError(key, f"{v}: no shell reads the config, so ~ and $NAME stay as written: give the path itself")
            if isinstance(v, Path) and not v.is_absolute():  # absolute, a link kept as an absolute path keeps it:
                upd[name] = (typed_from(key) if mine else base.absolute()).joinpath(v)  # model.watch follows a link moved
                _resolved(upd[name], key)
            elif isinstance(v, Path):
                _resolved(v, key)  # kept as given; links that loop are as wrong absolute as relative
            elif isinstance(v, BaseModel):
                upd[name] = fix(v, f"{key}.", mine)
        return m.model_copy(update=upd) if upd else m

    return fix(model, "", False)


def paths_in(model: BaseModel) -> list[Path]:
    """Every file or folder ``model`` names, in any section (a model, a key, a token, the archive): what a command that
    loads it reads, and must not write over."""
    found: list[Path] = []
    for name in type(model).model_fields:
        v = getattr(model, name)
        if isinstance(v, Path):
            found.append(v)
        elif isinstance(v, BaseModel):
            found += paths_in(v)
    return found
