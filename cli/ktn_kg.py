"""``ktn-kg``: build, inspect and version the commonsense relation knowledge graphs (CRKG)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app

DIFFERENCES_FOUND = 1  # exit code of ``diff`` when the graphs differ, as diff(1)

app = make_app("ktn-kg", "Build, inspect, compare and export the CRKG matrices used by KTM.")


def _vectors(glove: Path | None, word2vec: Path | None, fasttext: Path | None) -> tuple[str, Path] | None:
    given = [(k, p) for k, p in (("glove", glove), ("word2vec", word2vec), ("fasttext", fasttext)) if p is not None]
    if len(given) > 1:
        raise ValueError("give at most one of --glove, --word2vec, --fasttext")
    return given[0] if given else None


@app.command()
@guarded
def build(
    out: Path = typer.Option(..., "--out", help="Graph file to write (e.g. graphs/v2.pkl)."),
    recipe: str = typer.Option(
        "release", "--recipe", help="release (the KTNv2 script) or paper (Eq. 1-3); see docs/knowledge_graph.md."
    ),
    omega: float = typer.Option(0.5, "--omega", help="ω of Eq. 3 (paper recipe), in [0, 1]."),
    tau: float = typer.Option(0.5, "--tau", help="τ of Eq. 3 (paper recipe), in [0, 1]."),
    graph_version: str = typer.Option("v2", "--graph-version", help="v1 = keypoints only; v2 = kpt + part + person."),
    vocab: Path | None = typer.Option(None, "--vocab", help="Vocabulary YAML (default: the built-in release lists)."),
    glove: Path | None = typer.Option(None, "--glove", help="GloVe text file (no header), e.g. glove.6B.300d.txt."),
    word2vec: Path | None = typer.Option(None, "--word2vec", help="word2vec file (text, or binary if *.bin)."),
    fasttext: Path | None = typer.Option(None, "--fasttext", help="fastText .bin model or .vec text file."),
    vg: Path | None = typer.Option(None, "--vg", help="Visual Genome relationships.json (.json, .json.gz or .zip)."),
    oov: str = typer.Option(
        "error", "--oov", help="Words missing from the vectors: 'error' (stop, listing them) or 'zero' (zero vectors)."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Processes decoding a plain .json Visual Genome file (see docs/knowledge_graph.md)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Build a CRKG graph file from word vectors and (optionally) Visual Genome relationships.

    Recipes, terms, file format, reproducibility and build speed: docs/knowledge_graph.md.
    """
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
        workers=workers,
    )
    path = build_graph(inputs).save(out)
    typer.echo(f"wrote {path}")


def _table(title: str, frame, float_format: str = "{:.6f}"):
    """A rich table from a pandas DataFrame (floats formatted, None/NaN shown as "-")."""
    import pandas as pd
    from rich.table import Table

    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column), justify="right" if frame[column].dtype.kind in "fi" else "left")
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return "-"
        return float_format.format(value) if isinstance(value, float) else str(value)

    for record in frame.itertuples(index=False):
        table.add_row(*(cell(v) for v in record))
    return table


def _console():
    """stdout console; wide when redirected so that hashes and names are not cut."""
    import sys

    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


def _checked_tasks(g, path: Path, tasks: list[str]) -> list[str]:
    """``tasks`` if the graph holds them all, else a one-line error naming the graph file."""
    for t in tasks:
        if t not in g.tasks:
            raise ValueError(f"{path}: this {g.version} graph has no {t!r} matrix (it holds {', '.join(g.tasks)})")
    return tasks


@app.command()
@guarded
def inspect(
    graph: Path = typer.Argument(..., help="Graph file."),
    task: str | None = typer.Option(None, "--task", help="kpt, part or person (default: every task of the graph)."),
    node: str | None = typer.Option(None, "--node", help="Only this row node (in every task that has it)."),
    top: int = typer.Option(5, "--top", min=1, help="Strongest edges shown per node."),
    heatmap: Path | None = typer.Option(None, "--heatmap", help="Also draw the --task matrix (default kpt) as a PNG."),
) -> None:
    """Provenance summary, then each node's strongest edges with their M_s, M_f and I components."""
    from rich.table import Table

    from ktn_kg import load_graph
    from ktn_kg.summary import provenance_lines, save_heatmap, strongest_edges

    g = load_graph(graph)
    tasks = _checked_tasks(g, graph, [task] if task else list(g.tasks))
    if node is not None and task is None:
        tasks = [t for t in tasks if node in g.names(t)]
        if not tasks:
            raise ValueError(f"{graph}: no node {node!r} in any task graph ({', '.join(g.tasks)})")
    written = None if heatmap is None else save_heatmap(g, task or next(iter(g.tasks)), heatmap)
    console = _console()
    info = Table(title=f"{graph.name}", show_header=False)
    for key, value in provenance_lines(g):
        info.add_row(key, value)
    console.print(info)
    for t in tasks:
        edges = strongest_edges(g, t, node, top).drop(columns="task")
        console.print(_table(f"{t}: top {top} edges per node", edges))
    if written is not None:
        typer.echo(f"wrote {written}")


@app.command()
@guarded
def diff(
    a: Path = typer.Argument(..., help="First graph file."),
    b: Path = typer.Argument(..., help="Second graph file."),
    tol: float = typer.Option(0.0, "--tol", min=0.0, help="Report edges whose |b - a| exceeds this."),
) -> None:
    """Edges whose weight changed beyond --tol, and provenance differences. Exit code 0: none, 1: some differ."""
    import pandas as pd

    from ktn_kg import load_graph
    from ktn_kg.summary import diff_edges, diff_provenance

    ga, gb = load_graph(a), load_graph(b)
    console = _console()
    changes = pd.DataFrame(diff_provenance(ga, gb), columns=["field", a.name, b.name]).astype(str)
    edges = diff_edges(ga, gb, tol)
    if changes.empty and edges.empty:
        console.print(f"no differences beyond tol={tol}")
        return
    if not changes.empty:
        console.print(_table("provenance differences", changes))
    if edges.empty:
        console.print(f"no edge of the common tasks differs by more than {tol}")
    else:
        console.print(_table(f"{len(edges)} edges differ by more than {tol}", edges, "{:.6g}"))
    raise typer.Exit(DIFFERENCES_FOUND)


@app.command()
@guarded
def export(
    graph: Path = typer.Argument(..., help="Graph file."),
    fmt: str = typer.Option(..., "--format", help="ktn-release, npz, graphml, gexf or csv."),
    out: Path = typer.Option(..., "--out", help="Output file (a folder for ktn-release)."),
) -> None:
    """Write the graph as the three KTNv2 pickles, npz, GraphML, GEXF or an edge CSV."""
    from ktn_kg import load_graph
    from ktn_kg.exchange import export_graph

    for path in export_graph(load_graph(graph), fmt, out):
        typer.echo(f"wrote {path}")


@app.command("import")
@guarded
def import_(
    folder: Path = typer.Argument(..., help="Folder with kpt_surf_crkg.pkl (and part_, person_surf_crkg.pkl)."),
    out: Path = typer.Option(..., "--out", help="Graph file to write (e.g. graphs/imported.pkl)."),
) -> None:
    """Read the official KTNv2 CRKG pickles into a graph file (provenance "imported")."""
    from ktn_kg.exchange import import_release

    typer.echo(f"wrote {import_release(folder).save(out)}")


@app.command()
@guarded
def validate(graph: Path = typer.Argument(..., help="Graph file.")) -> None:
    """Check format tag, schema version, content hash, shapes and finiteness."""
    from ktn_kg import load_graph

    g = load_graph(graph)
    shapes = ", ".join(f"{t} {g.matrix(t).shape}" for t in g.tasks)
    typer.echo(f"ok: {graph} ({g.version}, recipe {g.recipe['name']}, {shapes})")


def main() -> None:
    app()
