"""``stbench encoders``: the encoder registry (torch-free).

    stbench encoders              # one row per encoder: name, dim, params, input px, um/px, pooling,
                                  # licence, cached? (weights in the local Hugging Face cache)
    stbench encoders info NAME    # every field of one entry, with its sources
"""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console
from rich.table import Table

from stbench.encoders import encoder_info, list_encoders


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``encoders`` (and ``encoders info NAME``) on the top-level ``subparsers``."""
    enc = subparsers.add_parser("encoders", help="list the frozen image encoders (--set encoder=NAME)")
    enc.add_argument("action", nargs="?", choices=["info"], help="info NAME: show one entry")
    enc.add_argument("name", nargs="?", help="with info: an encoder name")
    enc.set_defaults(func=cmd_encoders)
    return enc


def encoder_rows() -> list[dict[str, str]]:
    """One row per registered encoder, as shown by ``stbench encoders``."""
    from stbench.encoders._hub import is_cached

    rows = []
    for name in list_encoders():
        cfg = encoder_info(name)
        if cfg.pretrained:
            cached = "yes" if is_cached(cfg) else "no"
        else:
            cached = "random"
        rows.append({
            "name": name, "dim": str(cfg.dim), "params": cfg.params, "input px": str(cfg.input_size),
            "um/px": "—" if cfg.um_per_px is None else f"{cfg.um_per_px:g}", "pooling": cfg.pooling,
            "licence": (cfg.licence or "—") + (" (gated)" if cfg.gated else ""), "cached?": cached,
        })
    return rows


def cmd_encoders(args: argparse.Namespace) -> int:
    console = Console()
    if args.action is None:
        if args.name:
            console.print(f"stbench encoders: use 'stbench encoders info {args.name}'.")
            return 2
        rows = encoder_rows()
        table = Table(title="encoders (stbench run --set encoder=NAME)")
        for col in rows[0]:
            table.add_column(col, overflow="fold")
        for row in rows:
            table.add_row(*row.values())
        console.print(table)
        return 0
    if not args.name:
        console.print("stbench encoders info: name an encoder (see 'stbench encoders').")
        return 2
    cfg = encoder_info(args.name)
    table = Table(title=f"encoder {cfg.name!r}: {cfg.title}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "arch_kwargs":
            value = ", ".join(f"{k}={v!r}" for k, v in value.items())
        elif isinstance(value, tuple) and value and isinstance(value[0], str):
            value = "\n".join(value)
        table.add_row(f.name, str(value))
    console.print(table)
    return 0
