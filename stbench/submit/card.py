"""The model card of a leaderboard submission: ``leaderboard/submissions/<name>/card.toml``.

A card says what a row of the leaderboard is. Its fields (:data:`FIELDS`; all required)::

    name = "Mean expression"            # display name
    authors = ["A. Author", "B. Author"]
    paper = "https://doi.org/..."       # http(s) URL
    code = "https://github.com/..."     # http(s) URL
    license = "MIT"                     # the code's (and weights') licence
    encoder = "uni2-h"                  # a registry name (stbench list-encoders) or "none"/free text
    parameters = 937                    # trained parameter count (integer >= 0)
    training_data = "the fold's training slides only"
    oracle = false                      # the method read test expression
    contact = "someone@example.org"     # e-mail address or http(s) URL

    [compute]
    gpu = "none (CPU)"                  # GPU type
    hours = 0.01                        # GPU (or CPU) hours for all folds (number >= 0)

A card is untrusted text: it is read bounded (:data:`MAX_CARD_BYTES`) with :mod:`tomllib`, every
problem is one sentence, and whatever renders it must escape it.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CARD_NAME = "card.toml"
MAX_CARD_BYTES = 16 * 1024
"""Largest card file read (bytes)."""
MAX_TEXT_CHARS = 500
"""Longest text value of a card (characters)."""
MAX_AUTHORS = 50


@dataclass(frozen=True)
class Field:
    """One card field: its key, the TOML type it must have, and what it is (for docs and pages)."""

    key: str
    kind: str
    """``text``, ``url``, ``contact``, ``authors``, ``count``, ``hours`` or ``bool``."""
    description: str


FIELDS: tuple[Field, ...] = (
    Field("name", "text", "display name"),
    Field("authors", "authors", "authors, a list of names"),
    Field("paper", "url", "the paper (http(s) URL)"),
    Field("code", "url", "the code (http(s) URL)"),
    Field("license", "text", "licence of the code and weights"),
    Field("encoder", "text", "image encoder: a name of stbench's encoder registry where it is one"),
    Field("parameters", "count", "trained parameter count"),
    Field("training_data", "text", "what the method was trained on"),
    Field("oracle", "bool", "whether the method read test expression"),
    Field("contact", "contact", "e-mail address or http(s) URL"),
    Field("compute.gpu", "text", "GPU type (or CPU)"),
    Field("compute.hours", "hours", "GPU hours for every fold together"),
)

_URL = re.compile(r"https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:\d+)?(/[^\s<>\"]*)?")
_EMAIL = re.compile(r"[^@\s<>\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def read_card(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """(the card's table, problems): the file read bounded and parsed; ``None`` when it cannot be."""
    path = Path(path)
    if not path.is_file():
        return None, [f"{path}: there is no model card (write {CARD_NAME}; docs/submitting.md lists its fields)."]
    with path.open("rb") as fh:
        data = fh.read(MAX_CARD_BYTES + 1)
    if len(data) > MAX_CARD_BYTES:
        return None, [f"{path}: the model card is larger than {MAX_CARD_BYTES // 1024} KiB."]
    try:
        card = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None, [f"{path}: the model card is not UTF-8 text."]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: the model card is not valid TOML ({exc})."]
    return card, [f"{path}: {p}" for p in card_problems(card)]


def card_value(card: Mapping[str, Any], key: str) -> Any:
    """The value of a dotted ``key`` (``compute.hours``), or ``None``."""
    value: Any = card
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def card_problems(card: Mapping[str, Any]) -> list[str]:
    """One sentence per problem of a parsed card: missing, unknown or ill-typed fields, odd URLs."""
    problems = []
    known = {f.key.split(".")[0] for f in FIELDS}
    problems += [f"the model card has an unknown field {key!r} (the fields are {', '.join(f.key for f in FIELDS)})."
                 for key in card if key not in known]
    compute = card.get("compute")
    if compute is not None and not isinstance(compute, Mapping):
        problems.append("the model card's compute must be a table ([compute] with gpu and hours).")
    elif isinstance(compute, Mapping):
        problems += [f"the model card has an unknown field 'compute.{key}'." for key in compute if key not in ("gpu", "hours")]
    for f in FIELDS:
        value = card_value(card, f.key)
        if value is None:
            problems.append(f"the model card lacks the field {f.key!r} ({f.description}).")
        elif (problem := _type_problem(f, value)) is not None:
            problems.append(f"the model card's {f.key} {problem}.")
    return problems


def _type_problem(f: Field, value: Any) -> str | None:
    if f.kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if f.kind == "count":
        return None if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else "must be an integer >= 0"
    if f.kind == "hours":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
        return None if ok else "must be a number of hours >= 0"
    if f.kind == "authors":
        if not isinstance(value, list) or not value or len(value) > MAX_AUTHORS:
            return f"must be a list of 1 to {MAX_AUTHORS} names"
        bad = next((v for v in value if _text_problem(v)), None)
        return None if bad is None else f"holds {str(bad)[:40]!r}, which is not a name ({_text_problem(bad)})"
    if (problem := _text_problem(value)) is not None:
        return problem
    if f.kind == "url" and not _URL.fullmatch(value):
        return f"{value[:80]!r} is not an http(s) URL"
    if f.kind == "contact" and not (_URL.fullmatch(value) or _EMAIL.fullmatch(value)):
        return f"{value[:80]!r} is neither an e-mail address nor an http(s) URL"
    return None


def _text_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be non-empty text"
    if len(value) > MAX_TEXT_CHARS:
        return f"is longer than {MAX_TEXT_CHARS} characters"
    if any(ord(c) < 32 and c not in "\t" for c in value):
        return "holds control characters"
    return None


def registry_encoder(card: Mapping[str, Any]) -> str | None:
    """The card's encoder when it is a name of stbench's encoder registry, else ``None``."""
    from stbench.encoders import list_encoders

    encoder = card.get("encoder")
    return encoder if isinstance(encoder, str) and encoder in list_encoders() else None
