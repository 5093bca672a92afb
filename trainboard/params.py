"""Dotted parameter names and nested configs: a sweep samples {"optimizer.lr": 0.01}, a script reads
run.config["optimizer"]["lr"]. Shared by the client library and the server, so both read a name alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def nest(params: Mapping[str, Any]) -> dict[str, Any]:
    """{"optimizer.lr": 0.01, "epochs": 5} -> {"optimizer": {"lr": 0.01}, "epochs": 5}.

    Values that are dicts are merged with the dotted names under them. A name that is both a value and a
    section ("optimizer": "adam" and "optimizer.lr": 0.01) raises ValueError naming both.
    """
    nested: dict[str, Any] = {}
    for path, value in flatten(params).items():
        *parents, leaf = path.split(".")
        node = nested
        for depth, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                taken = ".".join(parents[: depth + 1])
                raise ValueError(f"{taken!r} is a value, so {path!r} cannot be set inside it")
            node = child
        if isinstance(node.get(leaf), dict):
            raise ValueError(f"{path!r} is a section, so it cannot also be a value")
        node[leaf] = value
    return nested


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optimizer": {"lr": 0.01}} -> {"optimizer.lr": 0.01}; an empty dict stays a value."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{path}."))
        else:
            flat[path] = value
    return flat


def merged(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The nested config of `defaults` with `overrides` set on top, both nested or dotted."""
    return nest({**flatten(defaults), **flatten(overrides)})
