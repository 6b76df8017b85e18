"""BENCHMARKS.md is generated from experiments/results/*.json and experiments/BENCHMARKS.template.md
(experiments/benchmarks_md.py): the committed file must be what they give, and no figure may carry
a path of the machine it was measured on. No benchmark runs here."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("benchmarks_md", ROOT / "experiments" / "benchmarks_md.py")
benchmarks_md = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmarks_md)


def test_benchmarks_md_is_what_the_result_files_and_the_template_give():
    rendered = benchmarks_md.render(benchmarks_md.TEMPLATE.read_text(), benchmarks_md.load_results())
    assert rendered == (ROOT / "BENCHMARKS.md").read_text(), "run `make benchmarks-md` and commit BENCHMARKS.md"


def test_no_machine_specific_path_in_benchmarks_md_the_template_or_a_result():
    files = [ROOT / "BENCHMARKS.md", benchmarks_md.TEMPLATE, *sorted(benchmarks_md.RESULTS.glob("*.json"))]
    found = {path.name: benchmarks_md.MACHINE_PATH.findall(path.read_text()) for path in files}
    assert {name: paths for name, paths in found.items() if paths} == {}


@pytest.mark.parametrize(
    "text, machine_specific",
    [
        ("--baseline /tmp/old", True),
        ("`/work/main/.venv-peer/bin/python`", True),
        ("(/home/dev/jaxrl)", True),
        ("--peer-python .venv-peer/bin/python", False),
        ("--baseline ../old and experiments/bench.py", False),
        ("jax 0.10.2 (CPU), 8/16 members", False),
    ],
)
def test_the_path_check_tells_a_machine_path_from_a_portable_one(text, machine_specific):
    assert bool(benchmarks_md.MACHINE_PATH.search(text)) == machine_specific


def test_every_result_file_is_complete_and_its_tables_rectangular():
    results = benchmarks_md.load_results()
    assert results, "experiments/results/ holds no result"
    for result in results.values():
        assert {"id", "title", "command", "date", "machine", "transcribed", "tables"} <= result.keys(), result["id"]
        for table in result["tables"]:
            assert all(len(row) == len(table["columns"]) for row in table["rows"]), result["id"]


def test_a_result_the_template_places_has_every_table_placed():
    """A result the template names is shown only where it says: a table it forgot would be lost
    (a result it does not name at all is listed whole at the end)."""
    lines = benchmarks_md.TEMPLATE.read_text().splitlines()
    placed = {match["id"] for match in map(benchmarks_md.PLACEHOLDER.match, lines) if match}
    transcribed = {rid for rid, result in benchmarks_md.load_results().items() if result["transcribed"]}
    assert transcribed <= placed
    for rid in placed:
        for index in range(len(benchmarks_md.load_results()[rid]["tables"])):
            assert f"{{{{table {rid} {index}}}}}" in lines


def test_a_section_run_is_written_without_paths_and_rendered_after_the_prose(tmp_path, monkeypatch):
    monkeypatch.setattr(benchmarks_md, "machine", lambda: {"description": "a test machine, 2 cores"})
    output = {
        "text": "| run | wall s |\n|---|---|\n| sb3 | 6.00 |\n| jaxrl | 2.50 |\n\nlogs in /tmp/bench-xyz/run",
        "figures": {"jaxrl": {"whole_process_median_s": 2.5}, "sb3": {"whole_process_median_s": 6.0}},
        "goals": [{"goal": "jaxrl <= 1/3 of SB3's", "value": 0.417, "holds": False}],
    }
    argv = ["--only", "startup", "--peer-python", "/opt/x/.venv-peer/bin/python", "--baseline", "/srv/old"]
    path = benchmarks_md.write_result("startup", argv, output, tmp_path)
    result = json.loads(path.read_text())

    assert result["id"] == path.stem and result["transcribed"] is None
    assert result["command"] == (
        "python experiments/bench.py --only startup --peer-python .venv-peer/bin/python --baseline BASELINE"
    )
    assert result["tables"] == [{"columns": ["run", "wall s"], "rows": [["sb3", "6.00"], ["jaxrl", "2.50"]]}]
    assert result["notes"] == "logs in <path>"
    rendered = benchmarks_md.render("# Benchmarks\n\nprose", benchmarks_md.load_results(tmp_path))
    assert rendered.startswith("# Benchmarks\n\nprose\n\n" + benchmarks_md.UNRECORDED_HEADING)
    assert "| jaxrl | 2.50 |" in rendered and "jaxrl <= 1/3 of SB3's: 0.417, **not met**." in rendered


def test_a_goal_measured_on_a_loaded_machine_says_so():
    result = {"id": "x", "title": "x", "command": "c", "date": "d", "tables": []}
    result["goals"] = [{"goal": "g", "value": 0.1, "holds": True}]
    quiet = benchmarks_md.result_markdown({**result, "machine": {"cores": 2, "load_average_1_5_15_min": [1.2, 1, 1]}})
    busy = benchmarks_md.result_markdown({**result, "machine": {"cores": 2, "load_average_1_5_15_min": [9.9, 8, 6]}})
    assert quiet.endswith("**met**.") and busy.endswith(
        "**met** (measured with more runnable processes than cores: re-measure quietly)."
    )


def test_the_template_holds_no_table_of_its_own():
    assert [line for line in benchmarks_md.TEMPLATE.read_text().splitlines() if line.startswith("|")] == []


def test_tables_written_into_the_template_become_result_files_and_render_the_same(tmp_path):
    written = (
        "# Benchmarks\n\n## A new section (issue 99)\n\n`python experiments/bench.py --only impala`, 2026-12-04:\n\n"
        "| run | s |\n|---|---|\n| jaxrl | 1.5 |\n\nprose\n\n| other | x |\n|---|---|\n| a |  |\n## Next\n"
    )
    template = benchmarks_md.extract_tables(written, tmp_path)
    results = benchmarks_md.load_results(tmp_path)

    assert list(results) == ["a-new-section-issue-99"]
    result = results["a-new-section-issue-99"]
    assert (result["section"], result["date"]) == ("impala", "2026-12-04") and result["transcribed"]
    assert result["command"] == "python experiments/bench.py --only impala"
    assert "{{table a-new-section-issue-99 1}}" in template.splitlines() and "| run" not in template
    assert benchmarks_md.render(template, results) == written


def test_a_template_naming_a_missing_result_fails():
    with pytest.raises(KeyError, match="nowhere"):
        benchmarks_md.render("{{table nowhere 0}}", {})
