"""The ``qdrant-mm`` command line (Typer for parsing and help, Rich for tables and progress).

Exit codes: 0 success; 1 ``sync`` did not do all it was asked (some products failed while the
rest were stored, deletes were held back, or a rebuild was not switched to), or ``tune --save``
did not save weights worse than its start point or one model alone (``--force`` saves them);
2 usage, configuration, model-loading or connection errors, a missing collection, an empty
catalog, and stored state that cannot be trusted; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import typer

from qdrant_mm.cli import demo, evaluate, info, profiles, search, serve, sync

app = typer.Typer(
    name="qdrant-mm",
    help="Multimodal product search on Qdrant: BLIP + CLIP + CLIP Interrogator, weighted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help pages, as git's or pip's: no type token beside flags that take no value
    rich_markup_mode=None,
)
weights_app = typer.Typer(
    help="Live weight profiles stored with the collection.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(weights_app, name="weights")

app.command()(sync.sync)
app.command()(search.search)
weights_app.command("list")(profiles.weights_list)
weights_app.command("show")(profiles.weights_show)
weights_app.command("set")(profiles.weights_set)
weights_app.command("delete")(profiles.weights_delete)
app.command()(evaluate.evaluate)
app.command()(evaluate.tune)
app.command()(info.info)
app.command()(serve.serve)
app.command("demo-models")(demo.demo_models)


def main() -> None:  # pragma: no cover - console entry point
    app()
