"""The ``stbench`` command line.

Every user error is one sentence on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stbench.errors import StbenchError


def _cmd_run(args: argparse.Namespace) -> int:
    from stbench.grid import launch as runner

    slurm = None
    if args.executor == "slurm":
        from stbench.grid.executors.slurm import SlurmOptions

        slurm = SlurmOptions.from_sources(
            Path(args.executor_config) if args.executor_config else None,
            {k: getattr(args, f"slurm_{k}") for k in (
                "partition", "gpus_per_cell", "cpus_per_cell", "mem_gb", "time_min", "account", "qos",
                "max_parallel")},
        )
        if args.gpus:
            raise StbenchError("--gpus goes with --executor local; on SLURM use --slurm-gpus-per-cell.")
    elif args.executor_config or args.wait:
        raise StbenchError("--executor-config and --wait go with --executor slurm.")
    cfg = runner.RunConfig(
        models=runner.resolve_models(args.model),
        cohorts=runner.resolve_cohorts(args.cohort),
        folds=runner.parse_folds(args.folds),
        results=Path(args.results),
        profile=args.profile,
        device=args.device,
        seeds=runner.parse_seeds(args.seeds, args.seed),
        split_seed=args.split_seed,
        threads=args.threads,
        overwrite=args.overwrite,
        root=Path(args.root) if args.root else None,
        save_predictions=not args.no_save_predictions,
        settings=tuple(args.set),
        executor=args.executor,
        jobs=args.jobs,
        gpus=_parse_gpus(args.gpus),
        slurm=slurm,
        wait=args.wait,
        stale_after=_parse_minutes(args.stale_after),
    )
    started = time.perf_counter()
    outcomes = runner.run(cfg)
    runner.summarise(outcomes, time.perf_counter() - started)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} cells failed; see the messages above "
              f"and 'stbench status --results {args.results}'.", file=sys.stderr)
        return 1
    return 0


def _parse_gpus(spec: str | None) -> tuple[str, ...]:
    """``"0,1"`` -> ("0", "1")."""
    if not spec:
        return ()
    gpus = tuple(g.strip() for g in spec.split(",") if g.strip())
    if not gpus or not all(g.isdigit() for g in gpus):
        raise StbenchError(f"--gpus takes comma-separated GPU indices such as 0,1, not {spec!r}.")
    return gpus


def _parse_minutes(spec: str) -> float | None:
    """``--stale-after`` minutes -> seconds; ``none`` -> no age limit."""
    if spec.lower() == "none":
        return None
    try:
        minutes = float(spec)
    except ValueError as exc:
        raise StbenchError(f"--stale-after takes minutes (or none), not {spec!r}.") from exc
    return minutes * 60


def _cmd_status(args: argparse.Namespace) -> int:
    from stbench.grid.status import show_status

    return show_status(
        Path(args.results),
        cohorts=_comma(args.cohort), models=_comma(args.model), watch=args.watch, interval=args.interval,
    )


def _comma(spec: str | None) -> tuple[str, ...] | None:
    return tuple(s.strip() for s in spec.split(",") if s.strip()) if spec else None


def _cmd_report(args: argparse.Namespace) -> int:
    from stbench.report import write_report
    from stbench.report.analysis import analyse
    from stbench.report.collect import stale_message

    root = Path(args.root) if args.root else None
    analysis = analyse(Path(args.results), root=root, submissions=Path(args.submissions) if args.submissions else None)
    text = write_report(
        Path(args.results),
        Path(args.out) if args.out else None,
        html=Path(args.html) if args.html else None,
        root=root,
        analysis=analysis,
        on_note=lambda note: print(f"stbench: note: {note}", file=sys.stderr),
    )
    stale = stale_message(analysis.board)
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
    from stbench.cli.listing import print_listing, print_settings

    if args.settings:
        print_settings(args.settings)
        return 0
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
    from stbench.protocol.cohorts import COHORTS, expand_cohort_names, get_cohort
    from stbench.paths import prepared_dir
    from stbench.protocol.splits import read_split, splits_dir, verify_qc_split

    folder = Path(args.dir) if args.dir else splits_dir()
    root = Path(args.root) if args.root else None
    if args.action == "verify":
        files = sorted(folder.glob("*.json"))
        if not files:
            raise StbenchError(f"No split files in {folder}.")
        for path in files:
            split = read_split(path)
            if not split.qc_derived:
                print(f"ok  {path.name}: {len(split.slides)} slides, {len(split.folds)} folds, "
                      f"sha256 {split.sha256[:12]}")
                continue
            print(f"ok  {path.name}: {len(split.slides)} candidate slides (folds dealt after QC), "
                  f"sha256 {split.sha256[:12]}")
            prepared = prepared_dir(split.cohort, root)
            if (prepared / "manifest.json").is_file():
                derived = verify_qc_split(split, prepared)
                print(
                    f"ok  {path.name} prepared: {len(derived.slides)} slides pass QC, {len(derived.folds)} folds, "
                    f"sha256 {derived.sha256[:12]} ({prepared})"
                )
        return 0
    from stbench.protocol.splitgen import generate

    generated = [n for n, c in COHORTS.items() if not c.published]  # HEST-Benchmark's are transcribed
    names = generated if args.cohort == "all" else expand_cohort_names(args.cohort)
    for name in names:
        get_cohort(name)  # an unknown name gets 'did you mean'
    written = generate(
        names,
        hest_metadata=Path(args.hest_metadata) if args.hest_metadata else None,
        stimage_metadata=Path(args.stimage_metadata) if args.stimage_metadata else None,
        out_dir=folder,
        root=root,
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
    run.add_argument("--cohort", required=True, help="NAME[,NAME], all (the six paper cohorts), extended, hest-bench, or a PATH")
    run.add_argument("--folds", help="comma-separated fold numbers (default: all five)")
    run.add_argument("--results", default="results", help="results folder (default: ./results)")
    run.add_argument("--profile", default="auto", help="auto (paper on GPU, small on CPU), small or paper")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--seed", type=int, help="training seed: every RNG at the start of each cell (default 0)")
    run.add_argument("--seeds", help="comma-separated training seeds, one cell per seed (e.g. 0,1,2); "
                                     "the report averages them within a fold")
    run.add_argument("--split-seed", type=int, default=0,
                     help="seed that deals the split of a cohort PATH (default 0; named cohorts have frozen splits)")
    run.add_argument("--threads", type=int,
                     help="CPU threads of each cell, recorded in its result (default: $OMP_NUM_THREADS, "
                          "else the usable CPUs divided among --jobs)")
    run.add_argument("--overwrite", action="store_true", help="recompute results that already exist")
    run.add_argument("--root", help="data root (default $STBENCH_DATA or ~/.cache/stbench)")
    run.add_argument(
        "--no-save-predictions", action="store_true",
        help="do not keep the test predictions (float16 .npz per test slide) beside the results",
    )
    run.add_argument(
        "--set", action="append", default=[], metavar="[MODEL.]KEY=VALUE",
        help="override a setting of the model's profile (repeatable); MODEL.KEY targets one model, "
             "KEY every selected model that has it; VALUE is a TOML value (50, 1e-4, true, \"x\")",
    )
    grid = run.add_argument_group("executors (see docs/grid.md)")
    grid.add_argument("--executor", default="local", choices=["local", "slurm"],
                      help="local (this machine, the default) or slurm (one job array, one task per cell)")
    grid.add_argument("--jobs", type=int, default=1,
                      help="local: worker processes, one cell each (default 1: in this process)")
    grid.add_argument("--gpus", help="local: comma-separated GPU indices, one per worker process "
                                     "(CUDA_VISIBLE_DEVICES; worker processes even with --jobs 1)")
    grid.add_argument("--stale-after", default="30",
                      help="minutes without a heartbeat after which another launcher's claim is stale "
                           "(default 30; none: never by age)")
    grid.add_argument("--executor-config", help="slurm: TOML file with the --slurm-* keys (partition = ...)")
    grid.add_argument("--wait", action="store_true", help="slurm: wait for the job array, then print the summary")
    grid.add_argument("--slurm-partition")
    grid.add_argument("--slurm-gpus-per-cell", type=int)
    grid.add_argument("--slurm-cpus-per-cell", type=int)
    grid.add_argument("--slurm-mem-gb", type=float)
    grid.add_argument("--slurm-time-min", type=int, help="time limit of one cell (default 240)")
    grid.add_argument("--slurm-account")
    grid.add_argument("--slurm-qos")
    grid.add_argument("--slurm-max-parallel", type=int, help="most array tasks running at once")
    run.set_defaults(func=_cmd_run)

    status = sub.add_parser("status", help="show which cells of a results folder are done, running, pending or failed")
    status.add_argument("--results", default="results")
    status.add_argument("--cohort", help="NAME[,NAME] (default: every cohort in the folder)")
    status.add_argument("--model", help="NAME[,NAME] (default: every model in the folder)")
    status.add_argument("--watch", action="store_true", help="refresh until every cell is done or failed")
    status.add_argument("--interval", type=float, default=5.0, help="with --watch: seconds between refreshes")
    status.set_defaults(func=_cmd_status)

    report = sub.add_parser("report", help="render the leaderboard (markdown, figures, CSVs, web page)")
    report.add_argument("--results", default="results", help="results folder (default: ./results)")
    report.add_argument("--out", help="write the markdown here, with figures/ and exports/ beside it")
    report.add_argument("--html", metavar="DIR", help="write a self-contained web page DIR/index.html")
    report.add_argument("--root", help="data root holding the prepared cohorts (truth for the spatial maps)")
    report.add_argument("--submissions", metavar="DIR",
                        help="accepted submissions (card.toml + results/ each) to add, e.g. leaderboard/submissions")
    report.set_defaults(func=_cmd_report)

    lst = sub.add_parser("list", help="show installed models and known cohorts")
    lst.add_argument("--root", help="data root")
    lst.add_argument("--settings", metavar="MODEL", help="print MODEL's settings per profile, with their defaults")
    lst.set_defaults(func=_cmd_list)

    check = sub.add_parser("check-predictor", help="run the conformance checks on a model")
    check.add_argument("name")
    check.add_argument("--profile", default="small")
    check.set_defaults(func=_cmd_check)

    splits = sub.add_parser("splits", help="verify or regenerate the frozen split files")
    splits.add_argument("action", choices=["verify", "generate"])
    splits.add_argument("--dir", help="split folder (default: the repository's splits/)")
    splits.add_argument(
        "--cohort", default="all", help="with generate: NAME[,NAME], extended, or all (every named cohort's file)"
    )
    splits.add_argument("--hest-metadata", help="HEST_v1_1_0.csv (default: the downloaded copy)")
    splits.add_argument("--stimage-metadata", help="meta_all_gene02122025.csv (default: the downloaded copy)")
    splits.add_argument("--root", help="data root (verify also checks the QC-derived folds of cohorts prepared there)")
    splits.set_defaults(func=_cmd_splits)

    from stbench.cli import data

    data.add_parser(sub)
    from stbench.cli import external

    external.add_parsers(sub)
    from stbench.cli import encoders

    encoders.add_parser(sub)
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
    except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # a folder the user named is not writable, or a file stands where a folder must be
        print(f"stbench: error: {filesystem_sentence(exc)}", file=sys.stderr)
        return 2


def filesystem_sentence(exc: OSError) -> str:
    """One sentence for a file-system refusal (not writable, a file where a folder must be)."""
    where = exc.filename or "a path"
    if isinstance(exc, PermissionError):
        return f"cannot write or read {where} (permission denied); choose a folder you can write to or fix its permissions."
    if isinstance(exc, NotADirectoryError):
        return f"{where} is (or lies under) a file where a folder is needed; choose another path."
    if isinstance(exc, IsADirectoryError):
        return f"{where} is a folder where a file is needed; choose another path."
    return f"{where} already exists as a file where a folder is needed; choose another path."


if __name__ == "__main__":
    sys.exit(main())
