import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from smolit.cli.knowledge_eval import eval_command
from smolit.encoding.sentence import SentenceTransformerEncoder
from smolit.knowledge.chunking import chunk_for_encoder

pytestmark = pytest.mark.slow

CORPUS = {
    "volcano": ("Mount Etna", "The volcano erupted overnight, covering nearby villages in ash."),
    "garden": ("Allotments", "Tomatoes and beans thrive in a sunny vegetable garden."),
    "whales": ("Marine mammals", "Humpback whales travel thousands of kilometres each year."),
    "bread": ("Baking", "Knead the dough, let it rise, then bake the loaf until golden."),
}
QUERIES = {"q1": "lava eruption", "q2": "migration of large sea animals", "q3": "make a loaf"}
QRELS = {"q1": "volcano", "q2": "whales", "q3": "bread"}


def write_dataset(directory: Path) -> list[str]:
    (directory / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": key, "title": title, "text": text}) + "\n"
            for key, (title, text) in CORPUS.items()
        )
    )
    (directory / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": key, "text": text}) + "\n" for key, text in QUERIES.items())
    )
    (directory / "qrels.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in QRELS.items())
    )
    return [
        f"--corpus={directory / 'corpus.jsonl'}",
        f"--queries={directory / 'queries.jsonl'}",
        f"--qrels={directory / 'qrels.tsv'}",
    ]


def test_eval_command_prints_scores_for_every_mode(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)  # two commands: typer keeps the "eval" name
    home = ["--home", str(tmp_path / "home")]
    result = CliRunner().invoke(app, ["eval", *write_dataset(tmp_path), *home, "--json"])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(app, ["eval", *write_dataset(tmp_path), *home, "--json"])
    first, second = json.loads(result.stdout)["modes"], json.loads(again.stdout)["modes"]
    for mode in first:  # the second run embeds from the cache and scores the same
        assert second[mode]["ndcg_at_10"] == first[mode]["ndcg_at_10"]
        assert second[mode]["recall_at_100"] == first[mode]["recall_at_100"]
    assert (tmp_path / "home" / "cache" / "embeddings").is_dir()
    scores = json.loads(result.stdout)
    assert scores["documents"] == 4 and scores["queries"] == 3
    assert scores["modes"]["hybrid"]["recall_at_100"] == 1.0
    assert scores["modes"]["semantic"]["ndcg_at_10"] > 0.9


def test_chunks_fit_the_real_encoder_window() -> None:
    encoder = SentenceTransformerEncoder()
    text = " ".join(f"Sentence {n} talks about immunohistochemistry." for n in range(200))
    encoded = chunk_for_encoder("A title", text, 2000, 32, encoder)
    counts = encoder.count_tokens(encoded.inputs)
    assert len(encoded.inputs) > 1 and max(counts) <= encoder.max_tokens  # type: ignore[operator]
