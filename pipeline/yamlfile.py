"""YAML files people write by hand (instrument schemes, codebooks), read so that every error can
name the file and the line.

``read_yaml`` returns a ``Node``: the plain value (dicts, lists, scalars) plus the line of every
item, so that a validator that finds a bad value deep inside can say where it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster; the same nodes and marks

from .errors import ConfigError


@dataclass
class Node:
    """A YAML value with its line (1-based) and, for mappings and sequences, its children's nodes."""

    value: object
    line: int
    path: Path
    children: dict | list = field(default_factory=dict)
    code: str = "yaml-invalid"  # the error code of the kind of file (scheme-invalid, codebook-invalid)

    def __getitem__(self, key) -> Node:
        return self.children[key]

    def get(self, key, default=None):
        return self.children.get(key, default) if isinstance(self.children, dict) else default

    def error(self, message: str) -> ConfigError:
        return ConfigError(str(self.path), message, key=f"line {self.line}", code=self.code)


def shipped_files(*folder: str) -> dict[str, Path]:
    """Name → file of the YAML files policoder ships in ``codebooks/<folder>`` (package data)."""
    base = resources.files("pipeline").joinpath("data", "codebooks", *folder)
    return {Path(entry.name).stem: Path(str(entry)) for entry in base.iterdir() if entry.name.endswith(".yaml")}


def locate(name_or_path: str | Path, shipped: dict[str, Path], root: Path | None, *, what: str) -> Path:
    """A shipped file by name, or a path (relative to the project ``root``) that must exist."""
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    path = Path(name_or_path)
    if root is not None and not path.is_absolute():
        path = root / path
    if not path.exists():
        raise ConfigError(str(path), f"no such {what}; shipped {what}s: {', '.join(sorted(shipped))}",
                          code=f"{what}-missing")
    return path


def read_yaml(path: str | Path, *, code: str, content: bytes | None = None) -> Node:
    """Parse ``path`` (whose bytes are ``content`` when the caller has read them); a file that cannot
    be read or parsed raises ``ConfigError`` with ``code``."""
    path = Path(path)
    try:
        text = (path.read_bytes() if content is None else content).decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found", code=code) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text; save it as UTF-8", code=code) from None
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError(str(path), "is empty", code=code)
        return _convert(loader, root, path, code)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"line {mark.line + 1}" if mark else None
        raise ConfigError(str(path), f"not valid YAML: {error.problem or error.context}", key=line,
                          code=code) from None
    finally:
        loader.dispose()


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path, code: str) -> Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        children: dict = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            if key in children:
                raise ConfigError(str(path), f"key {key!r} appears twice", key=f"line {key_node.start_mark.line + 1}",
                                  code=code)
            children[key] = _convert(loader, value_node, path, code)
        return Node({k: v.value for k, v in children.items()}, line, path, children, code)
    if isinstance(node, yaml.SequenceNode):
        items = [_convert(loader, item, path, code) for item in node.value]
        return Node([item.value for item in items], line, path, items, code)
    return Node(loader.construct_object(node), line, path, code=code)


# --- validators for hand-written files: each error names the line ----------------------------------

def known(node: Node, keys: set[str]) -> None:
    if not isinstance(node.value, dict):
        raise node.error(f"expected a mapping with {', '.join(sorted(keys))}")
    for key, child in node.children.items():
        if key not in keys:
            raise child.error(f"unknown key {key!r}; expected one of {', '.join(sorted(keys))}")


def required(node: Node, key: str) -> Node:
    child = node.get(key)
    if child is None:
        raise node.error(f"missing {key!r}")
    return child


def text(node: Node, key: str, default: str | None = None) -> str:
    if default is not None and node.get(key) is None:
        return default
    child = required(node, key)
    if not isinstance(child.value, (str, int)) or isinstance(child.value, bool) or not str(child.value).strip():
        raise child.error(f"{key} must be a non-empty text")
    return str(child.value).strip()


def number(node: Node, key: str, default, kind):
    child = node.get(key)
    if child is None:
        return default
    if not isinstance(child.value, (int, float)) or isinstance(child.value, bool) or child.value < 0:
        raise child.error(f"{key} must be a number of 0 or more")
    return kind(child.value)


def flag(node: Node, key: str) -> bool:
    """An optional true/false key (false when absent)."""
    value = node.get(key)
    if value is not None and not isinstance(value.value, bool):
        raise value.error(f"{key} must be true or false")
    return bool(value and value.value)


def strings(node: Node, key: str) -> list[str]:
    child = node.get(key)
    if child is None:
        return []
    if not isinstance(child.value, list) or not all(isinstance(v, str) and v for v in child.value):
        raise child.error(f"{key} must be a list of words")
    return list(child.value)


def items(node: Node, key: str) -> list[Node]:
    child = required(node, key)
    if not isinstance(child.value, list) or not child.value:
        raise child.error(f"{key} must be a non-empty list")
    return child.children


def unique(items: list[Node], what: str) -> None:
    seen: set[str] = set()
    for item in items:
        ident = text(item, "id")
        if ident in seen:
            raise item["id"].error(f"{what} id {ident!r} appears twice")
        seen.add(ident)
