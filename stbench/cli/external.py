"""``stbench export``, ``score``, ``validate`` and ``rescore``: results from anywhere.

    stbench export   --cohort NAME|PATH --fold K --out DIR [--root DIR]
    stbench score    --cohort NAME|PATH --fold K --predictions DIR --name MODEL [--oracle] [--results DIR]
    stbench validate DIR [--root DIR] [--no-recompute]
    stbench rescore  --results DIR [--cohort NAME[,NAME]] [--model NAME[,NAME]] [--root DIR]

Handlers return an exit code and raise :class:`~stbench.errors.StbenchError` for user errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register the four sub-commands on the top-level ``subparsers``."""
    export = subparsers.add_parser("export", help="write one fold in standard formats for methods outside stbench")
    export.add_argument("--cohort", required=True, help="a cohort NAME or a PATH")
    export.add_argument("--fold", required=True, type=int, help="fold number")
    export.add_argument("--out", required=True, help="new folder to write into")
    export.add_argument("--results", default="results", help="where a directory cohort's split is kept (default ./results)")
    export.add_argument("--split-seed", type=int, default=0, help="split seed of a directory cohort (as run's; default 0)")
    export.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    export.set_defaults(func=cmd_export)

    score = subparsers.add_parser("score", help="score predictions made outside stbench, exactly as run does")
    score.add_argument("--cohort", required=True, help="a cohort NAME or a PATH")
    score.add_argument("--fold", required=True, type=int, help="fold number")
    score.add_argument("--predictions", required=True, help="folder with <slide>.h5ad or <slide>.npz per test slide")
    score.add_argument("--name", required=True, help="model name for the results")
    score.add_argument("--model-version", help="version of the method, recorded in the result")
    score.add_argument("--oracle", action="store_true", help="the method read test expression")
    score.add_argument("--results", default="results", help="results folder (default ./results)")
    score.add_argument("--seed", type=int, default=0, help="clustering seed (as run's --seed; default 0)")
    score.add_argument("--split-seed", type=int, default=0, help="split seed of a directory cohort (as run's; default 0)")
    score.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    score.set_defaults(func=cmd_score)

    validate = subparsers.add_parser("validate", help="check a results folder before it joins the leaderboard")
    validate.add_argument("dir", help="results folder (or a folder holding results/)")
    validate.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    validate.add_argument("--no-recompute", action="store_true", help="do not recompute metrics from saved predictions")
    validate.set_defaults(func=cmd_validate)

    rescore = subparsers.add_parser("rescore", help="recompute every metric from saved predictions (no retraining)")
    rescore.add_argument("--results", default="results", help="results folder (default ./results)")
    rescore.add_argument("--cohort", help="only these cohorts, NAME[,NAME]")
    rescore.add_argument("--model", help="only these models, NAME[,NAME]")
    rescore.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    rescore.set_defaults(func=cmd_rescore)


def _root(args: argparse.Namespace) -> Path | None:
    return Path(args.root) if args.root else None


def _names(spec: str | None) -> set[str] | None:
    return {s.strip() for s in spec.split(",") if s.strip()} if spec else None


def cmd_export(args: argparse.Namespace) -> int:
    """``stbench export``."""
    from stbench.submit.export import export_fold

    out = export_fold(args.cohort, args.fold, Path(args.out), root=_root(args), results_dir=Path(args.results), split_seed=args.split_seed)
    print(f"Exported fold {args.fold} of {args.cohort} to {out} (format: {out / 'README.md'})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """``stbench score``."""
    import json

    from stbench.submit.score import score_folder

    path = score_folder(
        args.cohort, args.fold, Path(args.predictions), args.name, results_dir=Path(args.results),
        oracle=args.oracle, seed=args.seed, split_seed=args.split_seed, root=_root(args), model_version=args.model_version,
    )
    metrics = json.loads(path.read_text())["metrics"]
    shown = ", ".join(f"{k} {metrics[k]:.4f}" for k in ("pearson", "pearson_gene", "l1") if k in metrics)
    print(f"Scored {args.name} on fold {args.fold}: {shown} -> {path}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """``stbench validate``: one line per problem on stdout, exit status 1 when there is any."""
    from stbench.submit.validate import validate

    problems = validate(Path(args.dir), root=_root(args), recompute=not args.no_recompute,
                        on_note=lambda note: print(f"stbench: note: {note}", file=sys.stderr))
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) in {args.dir}.", file=sys.stderr)
        return 1
    print(f"ok  {args.dir}")
    return 0


def cmd_rescore(args: argparse.Namespace) -> int:
    """``stbench rescore``: rescored and left results, exit status 1 when one was left."""
    from stbench.results.rescore import rescore

    outcomes = rescore(Path(args.results), cohorts=_names(args.cohort), models=_names(args.model), root=_root(args))
    done = [o for o in outcomes if o.status == "rescored"]
    left = [o for o in outcomes if o.status == "left"]
    for o in done:
        print(f"rescored {o.path} ({o.message})")
    for o in left:
        print(o.message, file=sys.stderr)
    print(f"{len(done)} result(s) rescored, {len(left)} left unchanged.")
    return 1 if left else 0
