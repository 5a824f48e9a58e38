"""Checks for what comes from outside stbench (result files, submitted predictions, imported data).

* names that become parts of paths (section ids, cohort and model names, a result's
  ``predictions`` field) must be plain names (:func:`plain_name`), or a path built from them
  must stay inside its folder (:func:`inside`);
* ``.npz`` files are read member by member after their headers: the shape and dtype each
  ``.npy`` header declares, and the expanded size the zip directory declares, are checked
  against what the caller expects before any array is loaded (:func:`load_npz`). ``zipfile``
  never expands a member past the size its directory declares, so a deflate bomb is refused
  from the directory alone and a lying directory only yields a short, unreadable member.

Every refusal is a :class:`~stbench.errors.StbenchError` with one sentence.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from stbench.errors import StbenchError

MAX_NAME_CHARS = 200
"""Longest plain name (characters); file systems allow 255 bytes per path component."""
MAX_STRING_CHARS = 1024
"""Longest string (characters) a names array (barcodes, genes) may hold per element."""
MAX_MEMBER_BYTES = 2 * 1024**3
"""Ceiling (bytes, 2 GiB) on one array read from an ``.npz`` when the caller gives no expected
size: larger than any slide's predictions (e.g. 10^5 spots x 10^4 genes float16)."""
_HEADER_SLACK = 64 * 1024  # bytes of .npy header a member may hold beyond its data


def plain_name(value: object, what: str) -> str:
    """``value`` if it is a plain name usable as one path component, else one sentence.

    A plain name is a non-empty string of at most :data:`MAX_NAME_CHARS` characters, valid
    UTF-8, without ``/``, ``\\``, control characters, and not ``.`` or ``..``.
    """
    if not isinstance(value, str) or not value:
        raise StbenchError(f"The {what} {value!r} is not a name (an empty or non-text value).")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise StbenchError(f"The {what} {value!r} is not valid UTF-8; rename it.") from exc
    if value in (".", "..") or any(c in value for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise StbenchError(
            f"The {what} {value!r} is not a plain name (it holds a path separator, a control character, or is '.' or '..')."
        )
    if len(value) > MAX_NAME_CHARS:
        raise StbenchError(f"The {what} {value[:40]!r}… is {len(value)} characters long, more than {MAX_NAME_CHARS}.")
    return value


def inside(folder: Path, relative: object, what: str) -> Path:
    """``folder / relative`` resolved, when it stays inside ``folder``; else one sentence."""
    if not isinstance(relative, str) or not relative:
        raise StbenchError(f"The {what} {relative!r} is not a relative path.")
    base = Path(folder).resolve()
    target = (base / relative).resolve()
    if Path(relative).is_absolute() or not target.is_relative_to(base):
        raise StbenchError(f"The {what} {relative!r} points outside {folder}; it must be a folder inside it.")
    return target


def utf8_problem(values: np.ndarray, what: str) -> str | None:
    """A phrase naming the first of ``values`` (strings) that is not valid UTF-8, else ``None``."""
    for value in np.asarray(values, dtype=str).tolist():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"the {what} {value!r} is not valid UTF-8"
    return None


def load_npz(path: Path, limits: Mapping[str, int], *, optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays ``limits`` names from the ``.npz`` at ``path``, each checked before it is loaded.

    ``limits`` maps each array name to the most bytes it may hold (``itemsize x elements``);
    names in ``optional`` may be absent. Every member's ``.npy`` header is read first: an object
    dtype (it would need pickle), a declared size over its limit, or a zip entry whose expanded
    size exceeds the declared array are refused in one sentence naming the file and the array.

    Raises:
        StbenchError: not a zip (``.npz``) file, a missing array, or any of the refusals above.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise StbenchError(f"{path.name} is not an .npz file (numpy.savez output): {exc}.") from exc
    out: dict[str, np.ndarray] = {}
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        missing = [k for k in limits if f"{k}.npy" not in members and k not in optional]
        if missing:
            raise StbenchError(f"{path.name} lacks the array(s) {', '.join(missing)}.")
        for key, limit in limits.items():
            info = members.get(f"{key}.npy")
            if info is None:
                continue
            out[key] = _read_member(archive, info, path.name, key, limit)
    return out


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, key: str, limit: int) -> np.ndarray:
    if info.file_size > limit + _HEADER_SLACK:
        raise StbenchError(
            f"{name}: array {key} expands to {info.file_size:,} bytes, more than the {limit:,} it may hold; "
            "refused before reading."
        )
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = reader(fh)
            if dtype.hasobject:
                # object arrays need pickle, which is never loaded from outside
                raise StbenchError(
                    f"{name}: array {key} holds object arrays (they need pickle); save obs_names and var_names as strings "
                    "(np.asarray(names, dtype=str)) and X as floats."
                )
            declared = math.prod(shape) * dtype.itemsize
            if declared > limit or declared > info.file_size:
                raise StbenchError(
                    f"{name}: array {key} declares shape {shape} of {dtype} ({declared:,} bytes), "
                    f"more than {'the file holds' if declared <= limit else f'the {limit:,} bytes it may hold'}."
                )
            data = fh.read(declared)
    except StbenchError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise StbenchError(f"{name}: array {key} is unreadable ({exc}).") from exc
    if len(data) != declared:
        raise StbenchError(f"{name}: array {key} is truncated ({len(data):,} of {declared:,} bytes).")
    array = np.frombuffer(data, dtype=dtype)
    return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
