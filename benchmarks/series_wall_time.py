"""The full notebook series' wall time with the run command (``toyrobot run-series``, i.e. ``make run``).

    .venv/bin/python benchmarks/series_wall_time.py [--notebooks-dir notebooks] [--results PATH]
    .venv/bin/python benchmarks/series_wall_time.py --run [--only 01 02] [--data-dir data] [-p epochs 5] [--keep DIR]

Default mode (nothing is executed): reads the wall time of each committed notebook's last real run from the metadata
papermill stored in it (``metadata.papermill``: duration, start and end time, exception; and the sum of the cells'
durations) and prints minutes per notebook and the total, with the date of each run. Notebooks run one right after
the other (less than 5 minutes apart) are reported as one run of the series; a notebook without papermill metadata
has never been run by the run command and is listed as such. Writes the section "series_wall_time" of
benchmarks/RESULTS.md (or of ``--results``).

``--run``: executes the run command itself in a subprocess and times it: ``python -m toyrobot_utils run-series
--output-dir <tmp>/notebooks -p data_dir <data> -p models_dir <tmp>/models -p figures_dir <tmp>/figures [-p ...]
[--only ...]``, from the project folder, with this project on the kernel's PYTHONPATH. The executed notebooks go to a
temporary folder (``--keep DIR`` keeps them, with the models and figures), so the committed notebooks, ``models/``
and ``figures/`` are left untouched; all three folders are passed as absolute paths because the notebooks resolve
relative ones against the project folder. ``--data-dir`` defaults to ``data/``; when it holds no photos, a temporary
folder is passed instead and notebook 01 generates the built-in set into it (inside the timed run). Only a notebook
that fails leaves something behind: the run command keeps its executed copy in ``notebooks/failed/`` (git-ignored).
A full run takes about 2.5 hours on 2 cores (the sum above, 154 min in RESULTS.md);
``--only 01`` with a small ``--data-dir`` checks the mode in a minute.
Writes the section "series_wall_time_run".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if str(Path(__file__).resolve().parent) not in sys.path:  # benchmarks/report.py
    sys.path.append(str(Path(__file__).resolve().parent))

from toyrobot_utils import config  # noqa: E402
from toyrobot_utils.series.runner import series_notebooks  # noqa: E402

SAME_RUN_GAP = timedelta(minutes=5)  # run-series starts the next notebook right away


@dataclass
class NotebookRun:
    name: str
    duration: float | None  # papermill's wall time, seconds
    cells: float  # sum of the cells' durations, seconds
    start: datetime | None
    end: datetime | None
    exception: bool | None
    parameters: dict
    precision: str | None = None  # what setup() said it trains in ("training in mixed_bfloat16: ...")

    @property
    def recorded(self) -> bool:
        return self.duration is not None and self.start is not None


def _time(text) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


PRECISION_LINE = re.compile(r"training in (float32|mixed_bfloat16|mixed_float16)\b")


def read_notebook(path: Path) -> NotebookRun:
    """The last papermill run recorded in ``path`` (duration None when papermill never ran it), with the precision
    its ``setup()`` announced (None when it printed none)."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    pm = nb.get("metadata", {}).get("papermill") or {}
    cells = 0.0
    precision = None
    for cell in nb.get("cells", []):
        d = (cell.get("metadata", {}).get("papermill") or {}).get("duration")
        if isinstance(d, (int, float)):
            cells += float(d)
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            match = PRECISION_LINE.search("".join(text) if isinstance(text, list) else str(text))
            if precision is None and match:
                precision = match.group(1)
    duration = pm.get("duration")
    return NotebookRun(
        name=Path(path).name,
        duration=float(duration) if isinstance(duration, (int, float)) else None,
        cells=cells,
        start=_time(pm.get("start_time")),
        end=_time(pm.get("end_time")),
        exception=pm.get("exception"),
        parameters=dict(pm.get("parameters") or {}),
        precision=precision,
    )


def read_series(notebooks_dir: Path) -> list[NotebookRun]:
    notebooks = series_notebooks(Path(notebooks_dir))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks (NN_*.ipynb) in {notebooks_dir}")
    return [read_notebook(p) for p in notebooks]


def group_runs(records: list[NotebookRun]) -> list[list[NotebookRun]]:
    """Recorded notebooks grouped into runs of the series: each started within SAME_RUN_GAP of the previous end."""
    done = sorted((r for r in records if r.recorded), key=lambda r: r.start)
    groups: list[list[NotebookRun]] = []
    for r in done:
        previous = groups[-1][-1] if groups else None
        if previous is not None and previous.end is not None and r.start - previous.end <= SAME_RUN_GAP:
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def _stamp(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # papermill writes UTC with an offset; a naive time is shown as it is
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _short(name: str) -> str:
    return name[:2]


def report_lines(records: list[NotebookRun], markdown: bool) -> list[str]:
    head = ["notebook", "run started", "wall min (papermill)", "cells min", "precision", "status"]
    rows = []
    for r in records:
        if not r.recorded:
            status = "no papermill record (not run by the run command yet)"
        elif r.exception:
            status = "failed (exception recorded)"
        else:
            shown = {k: _display(v) if k.endswith("_dir") else v for k, v in r.parameters.items()
                     if k not in ("models_dir", "figures_dir")}
            status = "ok, " + (", ".join(f"{k}={v}" for k, v in shown.items()) if shown else "default parameters")
            if len(shown) < len(r.parameters):
                status += " (models and figures elsewhere)"
        rows.append([r.name, _stamp(r.start), _minutes(r.duration), _minutes(r.cells if r.recorded else None),
                     r.precision or "—", status])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(x) + " |" for x in rows]
    else:
        widths = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(head)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, 1, 4, 5) else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        lines = [fmt(head)] + [fmt(x) for x in rows]
    return lines


def summary_lines(records: list[NotebookRun]) -> list[str]:
    recorded = [r for r in records if r.recorded]
    lines = []
    total = sum(r.duration for r in recorded)
    cells = sum(r.cells for r in recorded)
    lines.append(f"total: {total / 60:.1f} min over {len(recorded)} notebook(s) with a record "
                 f"({', '.join(_short(r.name) for r in recorded) or 'none'}); cells alone {cells / 60:.1f} min, the "
                 f"rest is kernel start-up and papermill")
    groups = group_runs(records)
    for i, group in enumerate(groups, start=1):
        span = (group[-1].end - group[0].start).total_seconds() if group[-1].end else None
        lines.append(f"run {i}: {', '.join(_short(r.name) for r in group)} from {_stamp(group[0].start)} to "
                     f"{_stamp(group[-1].end)}: {_minutes(span)} min wall")
    if len(groups) > 1:
        lines.append(f"the records come from {len(groups)} separate runs, so the total is a sum of notebooks, not "
                     "one uninterrupted run of the series")
    missing = [r.name for r in records if not r.recorded]
    if missing:
        lines.append(f"not in the total (no papermill record): {', '.join(missing)}")
    failed = [r.name for r in recorded if r.exception]
    if failed:
        lines.append(f"runs that ended in an exception: {', '.join(failed)}")
    return lines


def _write(key: str, title: str, body: str, argv, results: Path | None) -> None:
    from report import RESULTS, write_section

    command = " ".join(["python benchmarks/series_wall_time.py", *(sys.argv[1:] if argv is None else argv)])
    path = write_section(key, title, body, command=command, results=results or RESULTS)
    print(f"wrote the section {key} of {path}")


def committed(args, argv) -> int:
    records = read_series(args.notebooks_dir)
    table = report_lines(records, markdown=False)
    summary = summary_lines(records)
    print(f"last recorded run of each notebook in {args.notebooks_dir} (papermill metadata):")
    print("\n".join(table))
    print()
    print("\n".join(summary))
    body = "\n".join([
        f"The committed notebooks' own record of their last run by the run command (`metadata.papermill` in "
        f"`{_display(args.notebooks_dir)}/NN_*.ipynb`): nothing was executed to make this table. *wall min* is "
        f"papermill's duration for the whole notebook, *cells min* the sum of its cells.",
        "",
        *report_lines(records, markdown=True),
        "",
        *[f"- {line}" for line in summary],
        *([f"- {args.note}"] if args.note else []),
    ])
    _write("series_wall_time", "Series wall time: the committed run (papermill records)", body, argv, args.results)
    return 0


def _display(path) -> str:
    """A path as a reader of RESULTS.md can use it: relative to the project folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except (TypeError, ValueError):
        return str(path)


def measured(args, argv) -> int:
    from toyrobot_utils.synthetic import default_data

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="toyrobot-series-run-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        data_dir = Path(args.data_dir).resolve()
        generated = not default_data.has_photos(data_dir)
        if generated:
            data_dir = work / "data"
            print(f"{args.data_dir} holds no photos: notebook 01 generates the built-in set into {data_dir}")
        out = work / "notebooks"
        command = [sys.executable, "-m", "toyrobot_utils", "run-series", "--output-dir", str(out),
                   "-p", "data_dir", str(data_dir), "-p", "models_dir", str(work / "models"),
                   "-p", "figures_dir", str(work / "figures")]
        for name, value in args.parameter:
            command += ["-p", name, value]
        if args.only:
            command += ["--only", *args.only]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
        print("$ " + " ".join(command), flush=True)
        started = datetime.now().astimezone()
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"the run command failed (exit status {proc.returncode}) after {wall / 60:.1f} min; nothing written "
                  "to RESULTS.md", file=sys.stderr)
            return proc.returncode or 1
        records = [read_notebook(p) for p in series_notebooks(out)]
        notebooks = sum(r.duration or 0.0 for r in records)
        print()
        print("\n".join(report_lines(records, markdown=False)))
        print()
        total = (f"run command wall time: {wall / 60:.1f} min for {len(records)} notebook(s) "
                 f"({', '.join(_short(r.name) for r in records)}), started {_stamp(started)}; papermill's notebook "
                 f"durations add up to {notebooks / 60:.1f} min (the rest is the command's own start-up)")
        print(total)
        settings = [f"photos {'generated by notebook 01' if generated else 'in ' + _display(data_dir) + '/'}"]
        settings += [f"{name}={value}" for name, value in args.parameter]
        body = "\n".join([
            f"The run command executed by this script and timed end to end ({'; '.join(settings)}; executed "
            f"notebooks, models and figures in {_display(work) + '/' if args.keep else 'a temporary folder'}). "
            f"*wall min* is papermill's duration for each notebook.",
            "",
            *report_lines(records, markdown=True),
            "",
            f"- {total}",
        ])
        _write("series_wall_time_run", "Series wall time: a measured run of the run command", body, argv,
               args.results)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks-dir", type=Path, default=ROOT / "notebooks",
                        help="where the committed notebooks are (default mode)")
    parser.add_argument("--run", action="store_true", help="execute the run command and time it")
    parser.add_argument("--only", nargs="+", help="--run: notebook number prefixes, e.g. --only 01 02")
    parser.add_argument("--data-dir", type=Path, default=config.DATA_DIR, help="--run: the photos (default data/)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                        help="--run: papermill parameter for every notebook, e.g. -p epochs 5")
    parser.add_argument("--keep", type=Path, help="--run: keep the executed notebooks, models and figures here")
    parser.add_argument("--results", type=Path, help="RESULTS.md to write (default benchmarks/RESULTS.md)")
    parser.add_argument("--note", help="a sentence added to the section (how the records were made)")
    args = parser.parse_args(argv)
    if not args.run and (args.only or args.parameter or args.keep):
        parser.error("--only, -p and --keep go with --run")
    return measured(args, argv) if args.run else committed(args, argv)


if __name__ == "__main__":
    sys.exit(main())
