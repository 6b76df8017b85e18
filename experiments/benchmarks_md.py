"""BENCHMARKS.md as data: the result files and the prose that explains them.

Every measurement lives in `experiments/results/<id>.json`, one file per bench section run
(written by `experiments/bench.py`) or per part of the hand-written BENCHMARKS.md transcribed
into data (`"transcribed"` says from where). BENCHMARKS.md is rendered from those files and
`experiments/BENCHMARKS.template.md`, the prose, where a line `{{table ID N}}` stands for table N
of result ID. A result no line of the template names is rendered at the end, under its title,
with its command, machine, date, tables, notes and goals, until someone writes prose around it.

  python experiments/benchmarks_md.py            rewrite BENCHMARKS.md (also `make benchmarks-md`,
                                                 `python experiments/bench.py --render`)
  python experiments/benchmarks_md.py --check    exit 1 if BENCHMARKS.md is not what the files give
  python experiments/benchmarks_md.py --extract  move tables written by hand into the template (a
                                                 section's prose pasted in with its tables) into
                                                 result files, marked transcribed, then render

A result file (all keys but `tables` may be empty):
  id, title, section (bench.py's --only name or null), command, date (YYYY-MM-DD, UTC),
  machine {description, cpu, cores, memory_gib, gpu, python, jax, load_average_1_5_15_min},
  transcribed (null, or where the figures were copied from and what that means),
  tables [{columns: [str], rows: [[cell]]}]  (cells as printed),
  figures {name: value}  (medians, repeats, per-seed values, the peer's beside ours),
  goals [{goal, value, holds}], notes (text printed beside the tables).
"""

import argparse
import datetime
import json
import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
TEMPLATE = ROOT / "experiments" / "BENCHMARKS.template.md"
OUTPUT = ROOT / "BENCHMARKS.md"
PLACEHOLDER = re.compile(r"^\{\{table (?P<id>[\w.-]+) (?P<index>\d+)\}\}$")
# An absolute path that names this machine's layout; none may reach a result file or BENCHMARKS.md.
MACHINE_PATH = re.compile(r"(?<![\w.~])(?:/tmp|/work|/home|/root|/Users|/var|/mnt|/private)(?:/[^\s`'\",;)\]]*)?")
UNRECORDED_HEADING = "## Results not yet described"


def parse_tables(text: str) -> tuple[list[dict], str]:
    """The markdown tables in `text` (each a run of lines starting with '|', its second line the
    separator) as {columns, rows}, and the rest of the text."""
    tables, rest, block = [], [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append(line)
            continue
        if block:
            tables.append(table_of(block))
            block = []
        rest.append(line)
    return tables, "\n".join(rest).strip()


def table_of(lines: list[str]) -> dict:
    """A markdown table's lines (header, separator, rows) as {columns, rows}."""
    return {"columns": cells(lines[0]), "rows": [cells(row) for row in lines[2:]]}


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def table_markdown(table: dict) -> str:
    lines = [row_markdown(table["columns"]), "|" + "---|" * len(table["columns"])]
    return "\n".join(lines + [row_markdown(row) for row in table["rows"]])


def row_markdown(row: list) -> str:
    return "| " + " | ".join(str(cell) for cell in row) + " |"


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    results = {}
    for path in sorted(folder.glob("*.json")):
        result = json.loads(path.read_text())
        if result["id"] != path.stem:
            raise ValueError(f"{path.name}: its id is '{result['id']}', not its file name")
        results[result["id"]] = result
    return results


def render(template: str, results: dict[str, dict]) -> str:
    """BENCHMARKS.md: the template with its table lines filled in, then every result it does not
    name, oldest first."""
    named, lines = set(), []
    for line in template.splitlines():
        match = PLACEHOLDER.match(line)
        if match is None:
            lines.append(line)
            continue
        if match["id"] not in results:
            raise KeyError(f"the template names result '{match['id']}', which experiments/results/ lacks")
        named.add(match["id"])
        lines.append(table_markdown(results[match["id"]]["tables"][int(match["index"])]))
    rest = sorted((r for r in results.values() if r["id"] not in named), key=lambda r: (r.get("date") or "", r["id"]))
    if rest:
        intro = "Written by `experiments/bench.py`; move each into its topic above once it has its prose."
        lines += ["", UNRECORDED_HEADING, "", intro, *("\n" + result_markdown(result) for result in rest)]
    return "\n".join(lines).rstrip("\n") + "\n"


def result_markdown(result: dict) -> str:
    machine = result.get("machine") or {}
    parts = [f"### {result['title']}", f"`{result['command']}`, {result['date']}, {machine.get('description', '')}"]
    parts += [table_markdown(table) for table in result["tables"]]
    if result.get("notes"):
        parts.append(result["notes"])
    # A goal met on a machine busier than its cores is not settled: say so beside it.
    loaded = (machine.get("load_average_1_5_15_min") or [0])[0] > (machine.get("cores") or float("inf"))
    caveat = " (measured with more runnable processes than cores: re-measure quietly)" if loaded else ""
    parts += [
        f"Goal: {goal['goal']}: {goal['value']}, **{'met' if goal['holds'] else 'not met'}**{caveat}."
        for goal in result.get("goals", [])
    ]
    return "\n\n".join(parts)


def machine() -> dict:
    """This machine in words and figures, without any of its paths."""
    import jax

    cpu = platform.processor() or platform.machine()
    with_model = [line for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")]
    if with_model:
        cpu = with_model[0].split(":", 1)[1].strip()
    memory = [line for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")]
    memory_gib = round(int(memory[0].split()[1]) / 2**20, 1) if memory else None
    gpus = sorted({device.device_kind for device in jax.devices() if device.platform != "cpu"})
    # The load when the result is written: on a shared machine it says how far to trust the seconds.
    load = [round(value, 1) for value in os.getloadavg()]
    description = f"{cpu}, {os.cpu_count()} cores, {memory_gib} GiB, " + (", ".join(gpus) or "no accelerator")
    description += f"; load average {load[0]:g}, {load[1]:g}, {load[2]:g} (1, 5, 15 min) at the end"
    return {
        "description": description,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "gpu": ", ".join(gpus) or None,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "load_average_1_5_15_min": load,
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def portable_command(argv: list[str]) -> str:
    """`argv` as a command anyone can read: paths inside the repo relative to it, a venv's Python
    outside it from its venv folder on, any other absolute path as the option's metavar."""
    words = []
    for index, word in enumerate(argv):
        if os.path.isabs(word):
            path = Path(word)
            venv = [i for i, part in enumerate(path.parts) if part.startswith(".venv")]
            if path.is_relative_to(ROOT):
                word = str(path.relative_to(ROOT))
            elif venv:
                word = str(Path(*path.parts[venv[0] :]))
            else:
                option = argv[index - 1] if index else "PATH"
                word = option.lstrip("-").replace("-", "_").upper() or "PATH"
        words.append(word)
    return " ".join(words)


def scrub(text: str) -> str:
    """`text` without this machine's paths (a temporary folder in an error message, say)."""
    return MACHINE_PATH.sub("<path>", text)


def write_result(section: str, argv: list[str], output, folder: Path = RESULTS) -> Path:
    """Writes what bench.py's `section` returned (markdown text, or a dict with `text` and any of
    `figures` and `goals`) as experiments/results/<section>-<UTC time>.json."""
    report = output if isinstance(output, dict) else {"text": output}
    tables, notes = parse_tables(scrub(report["text"]))
    now = datetime.datetime.now(datetime.timezone.utc)
    result = {
        "id": f"{section}-{now:%Y%m%dT%H%M%S}",
        "title": f"`{section}`, {now:%Y-%m-%d}",
        "section": section,
        "command": portable_command(["python", "experiments/bench.py", *argv]),
        "date": f"{now:%Y-%m-%d}",
        "machine": machine(),
        "transcribed": None,
        "tables": tables,
        "figures": report.get("figures", {}),
        "goals": report.get("goals", []),
        "notes": notes,
    }
    text = dumps(result)
    if MACHINE_PATH.search(text):
        raise ValueError(f"a machine-specific path would reach the results: {MACHINE_PATH.search(text)[0]}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['id']}.json"
    path.write_text(text + "\n")
    return path


def add_rows(result_id: str, title: str, command: str, table: tuple[list, list], points: list, notes: str) -> Path:
    """Appends a sweep's rows (`table`: columns, rows) and `points` (its figures) to
    experiments/results/<result_id>.json, made by the first invocation; a later one adds its command."""
    path = RESULTS / f"{result_id}.json"
    result = json.loads(path.read_text()) if path.exists() else None
    if result is None:
        result = {
            "id": result_id, "title": title, "section": None, "command": command,
            "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d}", "machine": machine(),
            "transcribed": None, "tables": [{"columns": table[0], "rows": []}], "figures": {"points": []},
            "goals": [], "notes": notes,
        }  # fmt: skip
    else:
        result["command"] += f"; {command}"
    result["tables"][0]["rows"] += table[1]
    result["figures"]["points"] += points
    path.write_text(dumps(result) + "\n")
    return path


def sweep_parser(
    doc: str, seed: int, seeds: int, total_steps: int, minibatches: int | None = None
) -> argparse.ArgumentParser:
    """The flags every `experiments/*_sweep.py` takes: the results id, one update shape (epochs,
    minibatches: required where `minibatches` is None), comma-separated lrs and the seeds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--id", required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--minibatches", type=int, required=minibatches is None, default=minibatches)
    parser.add_argument("--lr", required=True, help="comma-separated learning rates, one point each")
    parser.add_argument("--seed", type=int, default=seed, help="the first seed")
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--total-steps", type=int, default=total_steps, help="steps per seed")
    return parser


def record_sweep(
    script: str, argv: list[str] | None, result_id: str, title: str, table: tuple[list, list], points: list, notes: str
) -> None:
    """A sweep script's ending: its rows added to experiments/results/<result_id>.json under the
    command that made them, and printed."""
    command = f"python experiments/{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    add_rows(result_id, title, command, table, points, notes)
    for row in table[1]:
        print(" | ".join(row), flush=True)


def dumps(value, depth: int = 0) -> str:
    """JSON with one line per table row (or other list of plain values), so a diff reads by row."""
    pad = " " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(key)}: {dumps(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad[:-1] + "}"
    if isinstance(value, list) and any(isinstance(item, (list, dict)) for item in value):
        return "[\n" + ",\n".join(pad + dumps(item, depth + 1) for item in value) + "\n" + pad[:-1] + "]"
    return json.dumps(value, ensure_ascii=False, default=lambda array: array.tolist())  # NumPy's values


def extract_tables(template: str, folder: Path = RESULTS) -> str:
    """The template with each table written in it replaced by a `{{table ID N}}` line, its cells
    written to a result file per heading (ID: the heading's words), marked transcribed; the command
    and the date are read from the text under the heading (the first bench.py command in
    backticks, the first YYYY-MM-DD), the machine is what that text says."""
    sections, heading = {}, ""
    for line in template.splitlines():  # the text under each heading, for its command and date
        heading = line.lstrip("#").strip() if line.startswith("#") else heading
        sections.setdefault(heading, []).append(line)
    lines, heading, ids = [], "", {}
    for line in [*template.splitlines(), ""]:
        if line.startswith("|"):
            lines.append(line)
            continue
        block = []
        while lines and lines[-1].startswith("|"):
            block.insert(0, lines.pop())
        if block:
            result = ids.get(heading) or new_transcribed(heading, "\n".join(sections[heading]), folder)
            ids[heading] = result
            result["tables"].append(table_of(block))
            lines.append(f"{{{{table {result['id']} {len(result['tables']) - 1}}}}}")
        heading = line.lstrip("#").strip() if line.startswith("#") else heading
        lines.append(line)
    for result in ids.values():
        (folder / f"{result['id']}.json").write_text(dumps(result) + "\n")
    return "\n".join(lines[:-1]) + "\n"


def new_transcribed(heading: str, text: str, folder: Path) -> dict:
    """An empty result for the tables under `heading`, its id not yet taken in `folder`."""
    stem = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:60].rstrip("-") or "untitled"
    rid = next(
        f"{stem}{suffix}"
        for suffix in ["", *(f"-{n}" for n in range(2, 100))]
        if not (folder / f"{stem}{suffix}.json").exists()
    )
    commands = re.findall(r"`([^`]*bench\.py[^`]*)`", text.replace("\n", " "))
    dates = re.findall(r"20\d\d-\d\d-\d\d", text)
    return {
        "id": rid,
        "title": heading,
        "section": (re.findall(r"--only ([\w-]+)", commands[0]) or [None])[0] if commands else None,
        "command": re.sub(r"\s+", " ", commands[0]).strip() if commands else None,
        "date": dates[0] if dates else None,
        "machine": {"description": "as the text around the table says"},
        "transcribed": {"from": "a table written by hand into BENCHMARKS.template.md", "note": "cells as printed"},
        "tables": [],
        "figures": {},
        "goals": [],
        "notes": "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if BENCHMARKS.md differs")
    parser.add_argument("--extract", action="store_true", help="first move the template's own tables into results")
    args = parser.parse_args(argv)
    if args.extract:
        TEMPLATE.write_text(extract_tables(TEMPLATE.read_text()))
    text = render(TEMPLATE.read_text(), load_results())
    if args.check:
        if OUTPUT.read_text() != text:
            print("BENCHMARKS.md differs from experiments/results + the template: run make benchmarks-md")
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
