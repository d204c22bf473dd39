"""YAML files people write by hand (instrument schemes, codebooks), read so that every error can
name the file and the line.

``read_yaml`` returns a ``Node``: the plain value (dicts, lists, scalars) plus the line of every
item, so that a validator that finds a bad value deep inside can say where it is.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError


@dataclass
class Node:
    """A YAML value with its line (1-based) and, for mappings and sequences, its children's nodes."""

    value: object
    line: int
    path: Path
    children: dict | list = field(default_factory=dict)

    def __getitem__(self, key) -> Node:
        return self.children[key]

    def get(self, key, default=None):
        return self.children.get(key, default) if isinstance(self.children, dict) else default

    def error(self, message: str, *, code: str) -> ConfigError:
        return ConfigError(str(self.path), message, key=f"line {self.line}", code=code)


def read_yaml(path: str | Path, *, code: str) -> Node:
    """Parse ``path``; a file that cannot be read or parsed raises ``ConfigError`` with ``code``."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found", code=code) from None
    except UnicodeDecodeError:
        raise ConfigError(str(path), "is not UTF-8 text; save it as UTF-8", code=code) from None
    loader = yaml.SafeLoader(text)
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
        return Node({k: v.value for k, v in children.items()}, line, path, children)
    if isinstance(node, yaml.SequenceNode):
        items = [_convert(loader, item, path, code) for item in node.value]
        return Node([item.value for item in items], line, path, items)
    return Node(loader.construct_object(node), line, path)
