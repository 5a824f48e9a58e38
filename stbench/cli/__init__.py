"""The ``stbench`` command line.

Every user error is one sentence on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stbench.errors import StbenchError


def _cmd_run(args: argparse.Namespace) -> int:
    from stbench import runner

    cfg = runner.RunConfig(
        models=runner.resolve_models(args.model),
        cohorts=runner.resolve_cohorts(args.cohort),
        folds=runner.parse_folds(args.folds),
        results=Path(args.results),
        profile=args.profile,
        device=args.device,
        seed=args.seed,
        overwrite=args.overwrite,
        root=Path(args.root) if args.root else None,
        save_predictions=not args.no_save_predictions,
    )
    outcomes = runner.run(cfg)
    runner.summarise(outcomes)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} cells failed; see the messages above.", file=sys.stderr)
        return 1
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from stbench.report import write_report
    from stbench.report.collect import load_board, stale_message

    stale = stale_message(load_board(Path(args.results)))
    text = write_report(
        Path(args.results),
        Path(args.out) if args.out else None,
        html=Path(args.html) if args.html else None,
        root=Path(args.root) if args.root else None,
    )
    if args.out:
        print(f"Wrote {args.out} (figures/ and exports/ beside it)")
    if args.html:
        print(f"Wrote {Path(args.html) / 'index.html'}")
    if not args.out and not args.html:
        print(text)
    if stale:
        print(f"stbench: note: {stale}", file=sys.stderr)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from stbench.listing import print_listing

    print_listing(Path(args.root) if args.root else None)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from stbench.check import iter_checks
    from stbench.registry import get_predictor_class

    cls = get_predictor_class(args.name)
    table = Table(title=f"conformance of {args.name!r} ({args.profile} profile)")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail")
    failed = 0
    for r in iter_checks(cls, profile=args.profile):
        failed += not r.passed
        table.add_row(r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]", r.message)
    Console().print(table)
    return 1 if failed else 0


def _cmd_splits(args: argparse.Namespace) -> int:
    from stbench.cohorts import COHORTS
    from stbench.splits import read_split, splits_dir

    folder = Path(args.dir) if args.dir else splits_dir()
    if args.action == "verify":
        files = sorted(folder.glob("*.json"))
        if not files:
            raise StbenchError(f"No split files in {folder}.")
        for path in files:
            split = read_split(path)
            print(f"ok  {path.name}: {len(split.slides)} slides, {len(split.folds)} folds, sha256 {split.sha256[:12]}")
        return 0
    from stbench.splitgen import generate

    names = list(COHORTS) if args.cohort == "all" else [c.strip() for c in args.cohort.split(",")]
    for name in names:
        if name not in COHORTS:
            from stbench.cohorts import get_cohort

            get_cohort(name)
    written = generate(
        names,
        hest_metadata=Path(args.hest_metadata) if args.hest_metadata else None,
        stimage_metadata=Path(args.stimage_metadata) if args.stimage_metadata else None,
        out_dir=folder,
        root=Path(args.root) if args.root else None,
    )
    for path in written:
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stbench", description="Benchmark models that predict spatial transcriptomics from H&E."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run models on cohorts and write one result JSON per fold")
    run.add_argument("--model", required=True, help="NAME[,NAME] or all")
    run.add_argument("--cohort", required=True, help="NAME[,NAME], all (the six paper cohorts) or a PATH")
    run.add_argument("--folds", help="comma-separated fold numbers (default: all five)")
    run.add_argument("--results", default="results", help="results folder (default: ./results)")
    run.add_argument("--profile", default="auto", help="auto (paper on GPU, small on CPU), small or paper")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    run.add_argument("--overwrite", action="store_true", help="recompute results that already exist")
    run.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    run.add_argument(
        "--no-save-predictions", action="store_true",
        help="do not keep the test predictions (float16 .npz per test slide) beside the results",
    )
    run.set_defaults(func=_cmd_run)

    report = sub.add_parser("report", help="render the leaderboard (markdown, figures, CSVs, web page)")
    report.add_argument("--results", default="results", help="results folder (default: ./results)")
    report.add_argument("--out", help="write the markdown here, with figures/ and exports/ beside it")
    report.add_argument("--html", metavar="DIR", help="write a self-contained web page DIR/index.html")
    report.add_argument("--root", help="data root holding the prepared cohorts (truth for the spatial maps)")
    report.set_defaults(func=_cmd_report)

    lst = sub.add_parser("list", help="show installed models and known cohorts")
    lst.add_argument("--root", help="data root")
    lst.set_defaults(func=_cmd_list)

    check = sub.add_parser("check-predictor", help="run the conformance checks on a model")
    check.add_argument("name")
    check.add_argument("--profile", default="small")
    check.set_defaults(func=_cmd_check)

    splits = sub.add_parser("splits", help="verify or regenerate the frozen split files")
    splits.add_argument("action", choices=["verify", "generate"])
    splits.add_argument("--dir", help="split folder (default: the repository's splits/)")
    splits.add_argument("--cohort", default="all", help="with generate: NAME[,NAME] or all")
    splits.add_argument("--hest-metadata", help="HEST_v1_1_0.csv (default: the downloaded copy)")
    splits.add_argument("--stimage-metadata", help="meta_all_gene02122025.csv (default: the downloaded copy)")
    splits.add_argument("--root", help="data root")
    splits.set_defaults(func=_cmd_splits)

    from stbench.cli import data

    data.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``stbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StbenchError as exc:
        print(f"stbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stbench: interrupted; finished cells are kept and a rerun resumes.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
