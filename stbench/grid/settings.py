"""``stbench run --set KEY=VALUE``: override settings of the models' profiles from the command line.

Rules:

* ``MODEL.KEY=VALUE`` sets ``KEY`` of one model (which must be among the selected models and
  have that setting in the chosen profile).
* ``KEY=VALUE`` sets ``KEY`` of every selected model whose profile has it; a key none of the
  selected models has is an error.
* ``VALUE`` is read as a TOML value (``50``, ``1e-4``, ``true``, ``"adamw"``, ``[1, 2]``), and
  as a plain string when it is not one (``--set genst.optimizer=adamw``). A value must have the
  type of the setting's default (an integer is accepted for a float setting); a default of
  ``None`` accepts anything.
* A later ``--set`` of the same key wins.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from stbench.errors import StbenchError


def parse_value(text: str) -> Any:
    """A TOML scalar or array (``50``, ``1e-4``, ``true``, ``"x"``), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _check_type(model: str, key: str, default: Any, value: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(default, bool) and isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(default, int):
        ok = isinstance(value, int)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        kind = "bool (true or false)" if isinstance(default, bool) else type(default).__name__
        raise StbenchError(f"--set {model}.{key}={value!r}: {key} takes a {kind} (its default is {default!r}).")
    return value


def resolve_settings(
    assignments: Sequence[str], profiles: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per-model overrides from ``--set`` strings.

    Args:
        assignments: the ``KEY=VALUE`` / ``MODEL.KEY=VALUE`` strings, in command-line order.
        profiles: for each selected model, its chosen profile's settings with their defaults.

    Returns ``{model: {key: value}}`` with an entry (possibly empty) for every selected model.
    """
    out: dict[str, dict[str, Any]] = {m: {} for m in profiles}
    for item in assignments:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise StbenchError(f"--set takes KEY=VALUE or MODEL.KEY=VALUE, not {item!r}.")
        value = parse_value(text.strip())
        model, dot, bare = key.partition(".")
        if dot and model in profiles:
            targets = [model]
            key = bare
            settings = profiles[model]
            if key not in settings:
                raise StbenchError(
                    f"Model {model!r} has no setting {key!r}; its settings are "
                    f"{', '.join(sorted(settings)) or 'none'}."
                )
        elif dot and "." not in bare and not any(key in s for s in profiles.values()):
            raise StbenchError(
                f"--set {item}: {model!r} is not one of the selected models ({', '.join(profiles)})."
            )
        else:
            targets = [m for m, s in profiles.items() if key in s]
            if not targets:
                listing = "; ".join(f"{m}: {', '.join(sorted(s)) or 'none'}" for m, s in profiles.items())
                raise StbenchError(f"No selected model has a setting {key!r} (settings: {listing}).")
        for m in targets:
            out[m][key] = _check_type(m, key, profiles[m][key], value)
    return out
