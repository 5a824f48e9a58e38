"""Find predictors through the ``stbench.predictors`` entry-point group, lazily.

Built-in models register exactly as a third-party package would, in ``pyproject.toml``::

    [project.entry-points."stbench.predictors"]
    my-model = "my_package.model:MyModel"

Listing models reads only package metadata; a model's module is imported when it is used.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from stbench.errors import StbenchError
from stbench.predictor import Predictor

GROUP = "stbench.predictors"


@dataclass(frozen=True)
class PluginInfo:
    """One registered predictor, as found in package metadata (nothing imported yet)."""

    name: str
    distribution: str
    distribution_version: str
    target: str
    entry_point: EntryPoint


def available() -> dict[str, PluginInfo]:
    """All registered predictors by name, sorted. Two distributions claiming one name is an error."""
    found: dict[str, PluginInfo] = {}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.metadata["Name"] if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "unknown"
        info = PluginInfo(ep.name, dist, version, ep.value, ep)
        other = found.get(ep.name)
        if other is not None and (other.distribution, other.target) != (dist, ep.value):
            raise StbenchError(
                f"Two installed distributions register the model name {ep.name!r}: "
                f"{other.distribution} ({other.target}) and {dist} ({ep.value}); uninstall one."
            )
        found[ep.name] = info
    return dict(sorted(found.items()))


def suggest(name: str, choices: list[str]) -> str:
    """' Did you mean ...?' for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def plugin_info(name: str) -> PluginInfo:
    """The registry entry for ``name``; an unknown name gets a 'did you mean' message."""
    plugins = available()
    if name not in plugins:
        raise StbenchError(
            f"Unknown model {name!r}.{suggest(name, list(plugins))} "
            f"Run 'stbench list' to see the {len(plugins)} installed models."
        )
    return plugins[name]


def get_predictor_class(name: str) -> type[Predictor]:
    """Import and return the predictor class registered as ``name``."""
    info = plugin_info(name)
    try:
        cls = info.entry_point.load()
    except Exception as exc:  # a broken plugin must not take the whole harness down
        raise StbenchError(
            f"Model {name!r} from {info.distribution} failed to import ({type(exc).__name__}: {exc})."
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Predictor)):
        raise StbenchError(
            f"Entry point {name!r} of {info.distribution} points to {info.target}, "
            "which is not a stbench.Predictor subclass."
        )
    return cls


def create_predictor(name: str, **kwargs: Any) -> Predictor:
    """Instantiate the model registered as ``name`` (kwargs go to its ``__init__``)."""
    return get_predictor_class(name)(**kwargs)
