"""``ktn-kg``: build, inspect and version the commonsense relation knowledge graphs (CRKG)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, version_option

app = typer.Typer(
    help="Build, inspect, compare and export the CRKG matrices used by KTM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_option("ktn-kg"), is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build, inspect, compare and export the CRKG matrices used by KTM."""


def _vectors(glove: Path | None, word2vec: Path | None, fasttext: Path | None) -> tuple[str, Path] | None:
    given = [(k, p) for k, p in (("glove", glove), ("word2vec", word2vec), ("fasttext", fasttext)) if p is not None]
    if len(given) > 1:
        raise ValueError("give at most one of --glove, --word2vec, --fasttext")
    return given[0] if given else None


@app.command()
@guarded
def build(
    out: Path = typer.Option(..., "--out", help="Graph file to write (e.g. graphs/v2.pkl)."),
    recipe: str = typer.Option("release", "--recipe", help="release (spec §5, KTNv2 script) or paper (Eq. 1-3)."),
    omega: float = typer.Option(0.5, "--omega", help="ω of Eq. 3 (paper recipe)."),
    tau: float = typer.Option(0.5, "--tau", help="τ of Eq. 3 (paper recipe)."),
    graph_version: str = typer.Option("v2", "--graph-version", help="v1 = keypoints only; v2 = kpt + part + person."),
    vocab: Path | None = typer.Option(None, "--vocab", help="Vocabulary YAML (default: the built-in release lists)."),
    glove: Path | None = typer.Option(None, "--glove", help="GloVe text file (no header), e.g. glove.6B.300d.txt."),
    word2vec: Path | None = typer.Option(None, "--word2vec", help="word2vec file (text, or binary if *.bin)."),
    fasttext: Path | None = typer.Option(None, "--fasttext", help="fastText .bin model or .vec text file."),
    vg: Path | None = typer.Option(None, "--vg", help="Visual Genome relationships.json (.json, .json.gz or .zip)."),
    oov: str = typer.Option("error", "--oov", help="Out-of-vocabulary words: error, or zero vectors."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Build a CRKG graph file from word vectors and (optionally) Visual Genome relationships."""
    from ktn_kg.build import BuildInputs, build_graph
    from ktn_kg.recipe import Recipe

    inputs = BuildInputs(
        graph_version=graph_version,
        recipe=Recipe(recipe, omega, tau),
        vocab=vocab,
        vectors=_vectors(glove, word2vec, fasttext),
        vg=vg,
        oov=oov,
        progress=not quiet,
    )
    path = build_graph(inputs).save(out)
    typer.echo(f"wrote {path}")


def main() -> None:
    app()
