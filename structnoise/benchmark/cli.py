"""Benchmark commands: ``structnoise run``, ``structnoise report``, ``structnoise list``.

Examples::

    structnoise run --profile quick                 # the quick benchmark (embedded data)
    structnoise run table1 --out runs/table1        # the paper's Table 1 (GPU)
    structnoise run table1 --plan                   # its cells, settings and cost; runs nothing
    structnoise run --profile smoke --methods gaussian,bm3d --datasets embedded-stripe
    structnoise run my.yaml --executor slurm --slurm-partition gpu --slurm-gpus 1 --seeds 0,1,2
    structnoise report runs/quick
    structnoise report runs/mine --with results/reference   # beside a reference run
    structnoise list methods 'dvlae*'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from structnoise.benchmark.choices import Executor


def _split(values: list[str] | None) -> list[str] | None:
    """Flatten repeated / comma-separated values (commas inside brackets kept)."""
    if not values:
        return None
    from structnoise.benchmark.methodspec import split_top_level

    out: list[str] = []
    for value in values:
        out.extend(split_top_level(value))
    return out


def _seeds(values: list[str] | None) -> list[int] | None:
    items = _split(values)
    if items is None:
        return None
    try:
        return [int(v) for v in items]
    except ValueError:
        raise typer.BadParameter(f"seeds must be integers, got {items}") from None


def _interrupted_message(exc, cfg) -> str:
    """What an interrupted run says: the cells kept and how to resume."""
    from structnoise.benchmark.runfolder import CONFIG_FILE, is_run_folder, read_records

    run_dir = Path(cfg.out_dir)
    if not is_run_folder(run_dir):
        return f"{exc}: no cell was recorded"
    records = read_records(run_dir)
    ok = sum(r.get("status") == "ok" for r in records.values())
    if cfg.executor == Executor.SLURM and cfg.slurm.cluster != "local":
        flight = "the submitted slurm jobs go on and record their cells"
    else:
        flight = "the cell in progress was not recorded"
    return (
        f"{exc}: {len(records)} cell(s) recorded in {run_dir} ({ok} ok) are kept; {flight}. "
        f"Resume with: structnoise run {run_dir / CONFIG_FILE} --out {run_dir}"
    )


def run_command(
    config: Annotated[
        str | None,
        typer.Argument(
            help="Run configuration: a YAML file or a shipped name (smoke, quick, table1, "
            "fig4-rf, fig5-noise; see `structnoise list configs`). Default: the profile's "
            "configuration."
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="smoke | quick | paper (overrides the config's)."),
    ] = None,
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--methods",
            "-m",
            help="Methods, comma-separated or repeated, with grids: "
            "'gaussian,dvlae-small\\[rf=10,40]'.",
        ),
    ] = None,
    datasets: Annotated[
        list[str] | None,
        typer.Option("--datasets", "-d", help="Datasets, comma-separated or repeated."),
    ] = None,
    seeds: Annotated[
        list[str] | None,
        typer.Option("--seeds", "-s", help="Repetition seeds, e.g. '0,1,2'."),
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="paper (unsupervised methods fitted on all noisy images, test ones "
            "included) | held-out (fitted on the training split only). Default: the "
            "config's, else paper.",
        ),
    ] = None,
    executor: Annotated[
        Executor | None,
        typer.Option(
            "--executor",
            "-e",
            help=f"{' | '.join(Executor)} (default: the config's, else {Executor.LOCAL}).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Run folder (default runs/<name>): a new or empty folder, or a run folder "
            "to resume; any other non-empty folder is refused.",
        ),
    ] = None,
    slurm_partition: Annotated[
        str | None, typer.Option("--slurm-partition", help="Slurm partition (slurm executor).")
    ] = None,
    slurm_time: Annotated[
        int | None, typer.Option("--slurm-time", help="Minutes per slurm job (default: budget).")
    ] = None,
    slurm_gpus: Annotated[
        int | None, typer.Option("--slurm-gpus", help="GPUs per slurm job.")
    ] = None,
    retry: Annotated[
        bool, typer.Option("--retry", help="Re-run cells recorded as failed or skipped.")
    ] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not write the reports.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    plan: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="Print every cell with its resolved settings (key=value) and estimated "
            "cost, then stop: nothing is trained or written.",
        ),
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads of each cell (default: OMP_NUM_THREADS if set, else the cores "
            "this process is given; slurm.cluster: local divides them among the cells it "
            "runs at once). See docs/threads.md.",
        ),
    ] = None,
) -> None:
    """Run a benchmark (resumes an interrupted run in the same folder) and print Table 1.

    Exits with status 1 when no cell succeeded (every one failed or was skipped).

    The config's plugins are imported (run) as Python code: trust a config like a script.
    """
    from structnoise.benchmark.config import load_config
    from structnoise.benchmark.errors import ConfigError
    from structnoise.benchmark.runner import run
    from structnoise.benchmark.schema import PROFILE_CONFIGS
    from structnoise.interrupt import Interrupted, interruptible

    if profile is not None and profile not in PROFILE_CONFIGS:
        raise typer.BadParameter(
            f"unknown profile {profile!r}: expected one of {', '.join(PROFILE_CONFIGS)}"
        )
    source = config or PROFILE_CONFIGS[profile or "quick"]
    overrides = {
        "profile": profile,
        "methods": _split(methods),
        "datasets": _split(datasets),
        "seeds": _seeds(seeds),
        "protocol": protocol,
        "executor": None if executor is None else Executor(executor),
        "out": str(out) if out is not None else None,
        "report": False if no_report else None,
    }
    try:
        cfg = load_config(source, **overrides)
        slurm = {
            k: v
            for k, v in (
                ("partition", slurm_partition),
                ("time_min", slurm_time),
                ("gpus_per_node", slurm_gpus),
            )
            if v is not None
        }
        if slurm:
            cfg = cfg.with_overrides(slurm={**cfg.slurm.model_dump(), **slurm})
        if plan:
            from structnoise.benchmark.plan import describe_cells, format_plan

            for line in format_plan(cfg, describe_cells(cfg)):
                typer.echo(line)
            return
        with interruptible():
            result = run(cfg, progress=not quiet, retry=retry, threads=threads)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except Interrupted as exc:
        typer.echo(_interrupted_message(exc, cfg), err=True)
        raise typer.Exit(exc.exit_status) from None
    counts = result.counts
    typer.echo(
        f"run {result.run_id}: {counts['ok']} ok, {counts['failed']} failed, "
        f"{counts['skipped']} skipped ({counts['reused']} reused) in "
        f"{result.wall_s / 60:.1f} min; results in {result.run_dir}"
    )
    from structnoise.benchmark.runfolder import TABLE1_MD

    table1 = result.run_dir / TABLE1_MD
    if table1.exists():
        typer.echo("")
        typer.echo(table1.read_text())
    if counts["ok"] == 0 and counts["failed"] + counts["skipped"] > 0:
        typer.echo(
            f"error: no cell succeeded ({counts['failed']} failed, {counts['skipped']} "
            f"skipped); the reasons are in {result.run_dir / 'cells'} (`reason`); fix them "
            "and run again with --retry",
            err=True,
        )
        raise typer.Exit(1)


def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A folder written by `structnoise run`.")],
    with_runs: Annotated[
        list[Path] | None,
        typer.Option(
            "--with",
            "-w",
            help="Another run folder (repeatable) whose cells are merged into the reports "
            "written into RUN_DIR (results_merged.csv/.parquet, with a `run` column); it "
            "is only read. Refused when profiles, data or metric conventions differ; a "
            "cell in several runs is kept from RUN_DIR, else from the first --with.",
        ),
    ] = None,
) -> None:
    """Write Table 1 (markdown, LaTeX), the figures and report.html next to a run's table.

    With --with, the reports show the cells of RUN_DIR and of the other run folders.
    """
    from structnoise._cli_util import describe_unhandled
    from structnoise.benchmark.report import report

    for folder in (run_dir, *(with_runs or ())):
        if not folder.exists():
            typer.echo(
                f"error: {folder} does not exist; give a folder written by `structnoise run`",
                err=True,
            )
            raise typer.Exit(2)
        if not folder.is_dir():
            typer.echo(
                f"error: {folder} is a file; give a folder written by `structnoise run`", err=True
            )
            raise typer.Exit(2)
    if not _writable(run_dir):
        typer.echo(
            f"error: {run_dir} is not writable (report writes its tables and figures into the "
            "run folder); copy the folder somewhere you can write and run report there",
            err=True,
        )
        raise typer.Exit(1)
    try:
        out = report(run_dir, echo=lambda m: typer.echo(m, err=True), with_runs=with_runs or ())
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # a read-only or full disk found while writing
        typer.echo(f"error: {describe_unhandled(exc)}", err=True)
        raise typer.Exit(1) from None
    written = [p for v in out.values() if isinstance(v, list) for p in v if isinstance(p, Path)]
    typer.echo(f"wrote {len(written)} files into {run_dir} (open {Path(run_dir) / 'report.html'})")
    from structnoise.benchmark.runfolder import TABLE1_MD

    typer.echo((Path(run_dir) / TABLE1_MD).read_text())


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (tried, since root ignores permissions)."""
    import os
    import tempfile

    if not os.access(folder, os.W_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(prefix=".structnoise-write-test-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True


def list_methods_command(
    pattern: Annotated[str, typer.Argument(help="Glob, e.g. 'dvlae*'.")] = "*",
) -> None:
    """List the registered methods and what they need."""
    from rich.console import Console
    from rich.table import Table

    from structnoise.methods import list_methods, method_info

    table = Table(title="methods")
    for col in ("name", "kind", "needs", "quick budget", "paper name"):
        table.add_column(col, no_wrap=True)
    table.add_column("description")
    for name in list_methods(pattern):
        info = method_info(name)
        kind = "learnt" if info.learns else "classical"
        if info.samples:
            kind += ", sampling"
        needs = ", ".join(
            x for x, on in (("clean targets", info.needs_clean), ("axis", info.uses_axis)) if on
        )
        quick = info.budgets.get("quick") if info.learns else None
        table.add_row(
            name,
            kind,
            needs or "-",
            f"{quick:g} min" if quick else "-",
            info.paper_name or "-",
            info.description,
        )
    console = Console()
    if not console.is_terminal:  # piped: do not squeeze the table into 80 columns
        console = Console(width=160)
    console.print(table)


def list_datasets_command() -> None:
    """List the datasets a run can use, with their status (see `structnoise datasets list`)."""
    try:
        from structnoise.datasets import list_datasets
    except ImportError:  # pragma: no cover - datasets layer missing
        typer.echo("no datasets registered")
        return
    for info in list_datasets():
        paper = f"  [{info.paper_name}]" if getattr(info, "paper_name", "") else ""
        typer.echo(f"{info.name:24s} {info.status}{paper}")


def list_configs_command() -> None:
    """List the shipped run configurations."""
    import yaml

    from structnoise.benchmark.config import shipped_configs

    for name, path in sorted(shipped_configs().items()):
        data = yaml.safe_load(path.read_text()) or {}
        typer.echo(f"{name:12s} {data.get('profile', ''):6s} {data.get('description', '')}")


def add_commands(app: typer.Typer) -> None:
    """Add ``run``, ``report`` and ``list methods|datasets|configs`` to the CLI.

    Parameters
    ----------
    app : typer.Typer
        The ``structnoise`` application. If another part already added a ``list``
        group, the sub-commands are added to it (existing names are kept).
    """
    app.command("run")(run_command)
    app.command("report")(report_command)
    group = next((g.typer_instance for g in app.registered_groups if g.name == "list"), None)
    if group is None:
        group = typer.Typer(
            help="List methods, datasets and shipped configurations.", no_args_is_help=True
        )
        app.add_typer(group, name="list")
    existing = {c.name for c in group.registered_commands}
    for name, fn in (
        ("methods", list_methods_command),
        ("datasets", list_datasets_command),
        ("configs", list_configs_command),
    ):
        if name not in existing:
            group.command(name)(fn)
