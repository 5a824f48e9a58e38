"""``stbench export``, ``score``, ``validate`` and ``rescore``: results from anywhere.

    stbench export   --cohort NAME|PATH --fold K --out DIR [--root DIR]
    stbench score    --cohort NAME|PATH --fold K --predictions DIR --name MODEL [--oracle] [--results DIR]
    stbench validate DIR [--root DIR] [--no-recompute]
    stbench validate --submission DIR [DIR ...] [--against RESULTS] [--summary FILE]
    stbench submit   --results DIR --card card.toml --out leaderboard/submissions/NAME
    stbench rescore  --results DIR [--cohort NAME[,NAME]] [--model NAME[,NAME]] [--root DIR]

Handlers return an exit code and raise :class:`~stbench.errors.StbenchError` for user errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    """Register the five sub-commands on the top-level ``subparsers``."""
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
    validate.add_argument("dir", nargs="?", help="results folder (or a folder holding results/)")
    validate.add_argument("--submission", nargs="+", metavar="DIR",
                          help="check leaderboard submissions (card.toml + results/) instead of a results folder")
    validate.add_argument("--against", metavar="RESULTS",
                          help="with --submission: results whose model names a submission may not take (leaderboard/results)")
    validate.add_argument("--summary", metavar="FILE",
                          help="with --submission: append the submissions' rows as markdown to FILE (e.g. $GITHUB_STEP_SUMMARY)")
    validate.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    validate.add_argument("--no-recompute", action="store_true", help="do not recompute metrics from saved predictions")
    validate.set_defaults(func=cmd_validate)

    submit = subparsers.add_parser("submit", help="assemble a leaderboard submission: results + model card")
    submit.add_argument("--results", required=True, help="results folder written by run or score")
    submit.add_argument("--card", required=True, help="the model card, card.toml (docs/submitting.md)")
    submit.add_argument("--out", required=True, help="new folder, leaderboard/submissions/NAME (NAME: the model's name)")
    submit.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    submit.add_argument("--no-recompute", action="store_true", help="do not recompute metrics from saved predictions")
    submit.set_defaults(func=cmd_submit)

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


def _note(note: str) -> None:
    print(f"stbench: note: {note}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    """``stbench validate``: one line per problem on stdout, exit status 1 when there is any."""
    from stbench.errors import StbenchError
    from stbench.submit.validate import validate

    if args.submission:
        return _validate_submissions(args)
    if args.dir is None:
        raise StbenchError("stbench validate needs a results folder DIR or --submission DIR.")
    if args.against or args.summary:
        raise StbenchError("--against and --summary go with --submission.")
    problems = validate(Path(args.dir), root=_root(args), recompute=not args.no_recompute, on_note=_note)
    return _verdict(problems, args.dir)


def _validate_submissions(args: argparse.Namespace) -> int:
    from stbench.errors import StbenchError
    from stbench.report.markdown import submission_rows
    from stbench.submit.submission import duplicate_models, validate_submission

    if args.dir is not None:
        raise StbenchError("give either a results folder DIR or --submission DIR, not both.")
    folders = [Path(d) for d in args.submission]
    problems = duplicate_models(folders, Path(args.against) if args.against else None)
    for folder in folders:
        problems += validate_submission(folder, root=_root(args), recompute=not args.no_recompute, on_note=_note)
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as fh:
            fh.write(submission_rows(folders) + "\n")
            if problems:
                fh.write("\n**Problems**\n\n" + "".join(f"- {line}\n" for line in problems))
    return _verdict(problems, ", ".join(map(str, folders)))


def cmd_submit(args: argparse.Namespace) -> int:
    """``stbench submit``: assemble the folder, then validate it (exit status 1 on a problem)."""
    from stbench.submit.submission import assemble, validate_submission

    out = assemble(Path(args.results), Path(args.card), Path(args.out))
    print(f"Assembled {out} (card.toml + results/)")
    problems = validate_submission(out, root=_root(args), recompute=not args.no_recompute, on_note=_note)
    return _verdict(problems, str(out))


def _verdict(problems: list[str], what: str) -> int:
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) in {what}.", file=sys.stderr)
        return 1
    print(f"ok  {what}")
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
