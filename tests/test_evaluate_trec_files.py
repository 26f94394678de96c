"""``evaluate --run-out/--qrels-out``: trec_eval scores the files it writes exactly as
``evaluate --definitions trec`` scored the run (tiny models, the embedded Edge backend)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytrec_eval

MEASURES = {"P.1,2,5", "recall.1,2,5", "map_cut.1,2,5", "ndcg_cut.1,2,5", "recip_rank", "Rprec"}


@pytest.fixture
def judged(tmp_path, cli, shop) -> Path:
    """The shop example synced, and qrels with binary, graded, category (R = 3 > K = 1, 2) and
    image queries."""
    res = cli("sync", str(shop / "catalog.jsonl"), "--json")
    assert res.exit_code == 0, res.output
    lines = [
        {"id": "boots", "query": "ankle boot", "relevant": ["fm-00000", "fm-00010"]},
        {"id": "graded", "query": "pullover", "relevant": {"fm-00001": 3, "fm-00004": 1}},
        {"id": "mixed", "query": "trouser", "relevant": {"fm-00002": 2, "fm-00003": 0}},
        {"category": "Bag"},
        {"category": "Sneaker"},
        {"image": "shop/images/fm-00005.png", "relevant": {"fm-00005": 2, "fm-00006": 1}},
    ]
    path = tmp_path / "qrels.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    return path


def trec_eval(run_file: Path, qrels_file: Path) -> tuple[dict, dict]:
    """Per-query values and ``trec_eval -c`` means of a run file against a qrels file."""
    with qrels_file.open() as f:
        qrels = pytrec_eval.parse_qrel(f)
    with run_file.open() as f:
        run = pytrec_eval.parse_run(f)
    per_query = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    names = next(iter(per_query.values())).keys()
    means = {
        m: math.fsum(per_query.get(q, {}).get(m, 0.0) for q in qrels) / len(qrels) for m in names
    }
    return per_query, means


def assert_same_numbers(row: dict, run_file: Path, qrels_file: Path) -> None:
    ev = row["evaluation"]
    assert ev["definitions"] == "trec"
    per_query, means = trec_eval(run_file, qrels_file)
    names = ev["trec_names"]  # qdrant-mm name -> trec_eval name
    assert set(names.values()) == set(means)
    for ours, theirs in names.items():
        assert ev["metrics"][ours] == pytest.approx(means[theirs], abs=1e-9), ours
        for q, values in per_query.items():
            assert ev["per_query"][q][ours] == pytest.approx(values[theirs], abs=1e-9), (q, ours)


def test_trec_eval_scores_the_written_files_as_evaluate_printed(cli, judged, tmp_path):
    run_file, qrels_file = tmp_path / "run.txt", tmp_path / "qrels.txt"
    res = cli(
        "evaluate", str(judged), "--definitions", "trec", "--k", "1,2,5",
        "--weights", "0.5,0.3,0.2", "--weights", "0,1,1",
        "--run-out", str(run_file), "--qrels-out", str(qrels_file), "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["run_tag"] for r in rows] == [
        "0.5,0.3,0.2", "0,1,1", "blip_only", "clip_only", "interrogator_only",
    ]  # fmt: skip
    assert all("run" not in r for r in rows)
    (best,) = [r for r in rows if r["best"]]
    lines = [line.split() for line in run_file.read_text().splitlines()]
    assert lines and {fields[5] for fields in lines} == {best["run_tag"]}  # the best one only
    assert {fields[1] for fields in lines} == {"Q0"}
    # ranks count from 1 per query, scores never increase down a query's list
    by_query: dict[str, list[list[str]]] = {}
    for fields in lines:
        by_query.setdefault(fields[0], []).append(fields)
    assert set(by_query) == {"boots", "graded", "mixed", "q4", "q5", "q6"}
    for ranked in by_query.values():
        assert [int(f[3]) for f in ranked] == list(range(1, len(ranked) + 1))
        scores = [float(f[4]) for f in ranked]
        assert scores == sorted(scores, reverse=True)
    qrels_lines = qrels_file.read_text().splitlines()
    assert "mixed 0 fm-00003 0" in qrels_lines and "graded 0 fm-00001 3" in qrels_lines
    shop = [json.loads(line) for line in (judged.parent / "shop" / "catalog.jsonl").open()]
    bags = sum(row.get("category") == "Bag" for row in shop)
    assert sum(line.startswith("q4 0 ") for line in qrels_lines) == bags  # the Bag products
    assert_same_numbers(best, run_file, qrels_file)

    # with {tag} in the path: one file per weighting (same collection, so in the same test)
    (tmp_path / "runs").mkdir()
    template = str(tmp_path / "runs" / "run.{tag}.txt")
    qrels_file = tmp_path / "qrels.txt"
    res = cli(
        "evaluate", str(judged), "--definitions", "trec", "--k", "1,2,5", "--grid", "0.5",
        "--run-out", template, "--qrels-out", str(qrels_file), "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    # the grid's corners and the single models are the same weightings, under other tags
    assert len({r["run_tag"] for r in rows}) == len(rows) == 9
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(
        f"run.{r['run_tag']}.txt" for r in rows
    )
    for row in rows:
        run_file = tmp_path / "runs" / f"run.{row['run_tag']}.txt"
        assert {line.split()[5] for line in run_file.read_text().splitlines()} == {row["run_tag"]}
        assert_same_numbers(row, run_file, qrels_file)

    # the table names the definitions and shows trec_eval's names for trec ones
    res = cli("evaluate", str(judged), "--definitions", "trec", "--k", "5", "--run-out", template)
    assert res.exit_code == 0, res.output
    assert "definitions: trec" in res.output and "map_cut_5" in res.output
    assert "wrote run" in res.output
    res = cli("evaluate", str(judged), "--k", "5", "--run-out", str(run_file))
    assert res.exit_code == 0, res.output
    assert "definitions: qdrant-mm" in res.output and "map@5" in res.output
    assert "map_cut_5" not in res.output


def test_bad_output_options_exit_2_before_searching(cli, tmp_path):
    judged = tmp_path / "qrels.jsonl"  # never read: the options fail first
    res = cli("evaluate", str(judged), "--run-out", str(tmp_path / "nowhere" / "run.txt"))
    assert res.exit_code == 2 and "--run-out: folder" in res.output and "nowhere" in res.output
    res = cli("evaluate", str(judged), "--definitions", "trec_eval")
    assert res.exit_code == 2 and "unknown metric definitions 'trec_eval'" in res.output
    assert "Traceback" not in res.output
