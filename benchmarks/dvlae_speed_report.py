"""The markdown report of ``dvlae_speed.py`` (tables and the targets of issue 14)."""

from __future__ import annotations

#: Issue 14's targets: training speed-ups against the authors' step, MMSE speed-up.
TRAIN_TARGET = {"32": 1.5, "bf16": 2.5}
MMSE_TARGET = 2.0


def _r(values) -> list[float]:
    return [round(v, 2) for v in values]


def _header(report: dict, args) -> list[str]:
    m = report["meta"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    v = m["versions"]
    return [
        f"# DVLAE speed against the authors' code ({m['authors_code']})",
        "",
        "Written by `benchmarks/dvlae_speed.py`; every figure below is in `speed.json`.",
        "",
        f"- Command: `{m['command']}`",
        f"- Commit: {m['commit']}; Python {v['python']}, torch {v['torch']}, numpy "
        f"{v['numpy']}, structnoise {v['structnoise']}; torch threads per measurement: "
        f"{m['threads']}.",
        f"- CPU: {m['cpu']}, {m['cpu_count']} CPUs; flags: {flags}.",
        f"- The machine was shared with other jobs: load average {_r(m['load_start'])} at "
        f"the start, {_r(m.get('load_end', []))} at the end (each measurement's load is in "
        "the JSON). Ours and theirs alternate, in alternating order, each in its own "
        "process, so that the load hits both; medians over rounds. CPU time (the "
        "process's, all threads) is less disturbed by the other jobs than the wall clock.",
        "",
    ]


def to_markdown(report: dict, args) -> str:
    """Tables of the summary and how they compare with the targets.

    Parameters
    ----------
    report : dict
        What ``dvlae_speed.py`` writes to ``speed.json``.
    args : argparse.Namespace
        Its arguments.

    Returns
    -------
    str
    """
    lines = _header(report, args) + [
        f"Training: batch of {args.batch} crops of {args.crop}x{args.crop}, median over "
        f"{args.repeats} rounds of {args.steps} timed steps (after {args.warmup} untimed).",
        "",
        "| preset | implementation | s/step | images/s | speed-up | CPU s/step | "
        "speed-up in CPU time | peak RSS (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    checks: list[str] = []
    for preset, data in report["presets"].items():
        for key, row in data["summary"].items():
            if not key.startswith("train_"):
                continue
            name = key[len("train_") :]
            sp = row.get("speedup_vs_authors", 1.0)
            cp = row.get("cpu_speedup_vs_authors", 1.0)
            lines.append(
                f"| {preset} | {name} | {row['seconds_per_step']:.3f} | "
                f"{row['images_per_second']:.1f} | {sp:.2f}x | "
                f"{row['cpu_seconds_per_step']:.3f} | {cp:.2f}x | {row['peak_rss_mb']:.0f} |"
            )
            prec = name.split("-", 1)[1] if name.startswith("ours-") else None
            if prec in TRAIN_TARGET:
                ok = min(sp, cp) >= TRAIN_TARGET[prec]
                checks.append(
                    f"- Training, {preset}, {prec}: {sp:.2f}x the authors' steps per second "
                    f"({cp:.2f}x in CPU time; target {TRAIN_TARGET[prec]}x): "
                    f"{'met' if ok else '**not met**'}."
                )
    lines += [
        "",
        "MMSE of one image (theirs: one pass per sample, as their prediction notebook; "
        "ours: one bottom-up pass, then `chunk` samples per top-down pass):",
        "",
        "| preset | implementation | image | samples | seconds | s per 100 samples | "
        "speed-up | CPU s | speed-up in CPU time | peak RSS (MB) | chunk |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for preset, data in report["presets"].items():
        for key, row in data["summary"].items():
            if not key.startswith("mmse") or key.startswith("mmse_"):
                continue
            name = key.split("_", 1)[1]
            sp = row.get("speedup_vs_authors", 1.0)
            cp = row.get("cpu_speedup_vs_authors", 1.0)
            lines.append(
                f"| {preset} | {name} | {row['size']}x{row['size']} | {row['samples']} | "
                f"{row['seconds']:.1f} | {row['seconds_per_100_samples']:.1f} | {sp:.2f}x | "
                f"{row['cpu_seconds']:.1f} | {cp:.2f}x | {row['peak_rss_mb']:.0f} | "
                f"{row['chunk'] or '-'} |"
            )
            if name == "ours-32":
                mem = row["memory_vs_authors"]
                ok = min(sp, cp) >= MMSE_TARGET and mem <= 1.0
                checks.append(
                    f"- MMSE, {preset}, {row['size']}x{row['size']}, float32: {sp:.2f}x "
                    f"faster ({cp:.2f}x in CPU time), peak memory {mem:.2f}x theirs (target "
                    f"{MMSE_TARGET}x, at most 1x): {'met' if ok else '**not met**'}."
                )
    lines += ["", "## Against the targets (issue 14)", "", *checks]
    return "\n".join(lines) + "\n"
