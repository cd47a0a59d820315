"""``ktn-kg``: build, inspect and version the commonsense relation knowledge graphs (CRKG)."""

from __future__ import annotations

from pathlib import Path

import typer

from ktn_cli.common import guarded, make_app
from ktn_cli.options import machine_cpus, ranged
from ktn_utils.atomic import check_output_file, check_output_folder

DIFFERENCES_FOUND = 1  # exit code of ``diff`` when the graphs differ, as diff(1)

app = make_app("ktn-kg", "Build, inspect, compare and export the CRKG matrices used by KTM.")


OUT = typer.Option(..., "--out", help="Graph file to write (e.g. graphs/v2.pkl).")
RECIPE = typer.Option("release", "--recipe", help="release (the KTNv2 script) or paper (Eq. 1-3); see "
                      "docs/knowledge_graph.md.")
OMEGA = ranged(None, "--omega", low=0.0, high=1.0, help="ω of Eq. 3, in [0, 1] (paper recipe only; default 0.5).")
TAU = ranged(None, "--tau", low=0.0, high=1.0, help="τ of Eq. 3, in [0, 1] (paper recipe only; default 0.5).")
GRAPH_VERSION = typer.Option("v2", "--graph-version", help="v1 = keypoints only; v2 = kpt + part + person.")
VOCAB = typer.Option(None, "--vocab", help="Vocabulary YAML (default: the built-in release lists).")
GLOVE = typer.Option(None, "--glove", help="GloVe text file (no header), e.g. glove.6B.300d.txt.")
WORD2VEC = typer.Option(None, "--word2vec", help="word2vec file (text, or binary if *.bin).")
FASTTEXT = typer.Option(None, "--fasttext", help="fastText .bin model or .vec text file.")
VG = typer.Option(None, "--vg", help="Visual Genome relationships.json (.json, .json.gz or .zip).")
OOV = typer.Option("error", "--oov", help="Words missing from the vectors: 'error' (stop, listing them) or 'zero' "
                   "(zero vectors).")
WORKERS = ranged(1, "--workers", low=1, high=machine_cpus, help="Processes decoding a plain .json Visual Genome "
                 "file, at least 1, at most the usable CPUs (see docs/knowledge_graph.md).")
QUIET = typer.Option(False, "--quiet", help="No progress bar.")
PAPER_ONLY = {"--omega": 0.5, "--tau": 0.5}  # options only the paper recipe reads, with their defaults


def _vectors(glove: Path | None, word2vec: Path | None, fasttext: Path | None) -> tuple[str, Path] | None:
    given = [(k, p) for k, p in (("glove", glove), ("word2vec", word2vec), ("fasttext", fasttext)) if p is not None]
    if len(given) > 1:
        raise ValueError("give at most one of --glove, --word2vec, --fasttext")
    return given[0] if given else None


def _recipe(name: str, omega: float | None, tau: float | None):
    """The recipe; an option it does not read (--omega, --tau outside the paper recipe) is an error naming both."""
    from ktn_kg.recipe import Recipe

    for option, value in (("--omega", omega), ("--tau", tau)):
        if value is not None and name != "paper":
            raise ValueError(f"{option} {value}: the {name} recipe does not use it (only --recipe paper does)")
    return Recipe(name, PAPER_ONLY["--omega"] if omega is None else omega, PAPER_ONLY["--tau"] if tau is None else tau)


@app.command()
@guarded
def build(out: Path = OUT, recipe: str = RECIPE, omega: float | None = OMEGA, tau: float | None = TAU,
          graph_version: str = GRAPH_VERSION, vocab: Path | None = VOCAB, glove: Path | None = GLOVE,
          word2vec: Path | None = WORD2VEC, fasttext: Path | None = FASTTEXT, vg: Path | None = VG, oov: str = OOV,
          workers: int = WORKERS, quiet: bool = QUIET) -> None:  # fmt: skip
    """Build a CRKG graph file from word vectors and (optionally) Visual Genome relationships.

    Recipes, terms, file format, reproducibility and build speed: docs/knowledge_graph.md.
    """
    from ktn_kg.build import BuildInputs, build_graph

    if workers > 1 and vg is None:
        raise ValueError(f"--workers {workers}: only used to read --vg, which is not given")
    inputs = BuildInputs(graph_version=graph_version, recipe=_recipe(recipe, omega, tau), vocab=vocab,
                         vectors=_vectors(glove, word2vec, fasttext), vg=vg, oov=oov, progress=not quiet,
                         workers=workers)  # fmt: skip
    check_output_file(out)
    typer.echo(f"wrote {build_graph(inputs).save(out)}")


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


GRAPH = typer.Argument(..., help="Graph file.")
TASK = typer.Option(None, "--task", help="kpt, part or person (default: every task of the graph).")
NODE = typer.Option(None, "--node", help="Only this row node (in every task that has it).")
TOP = ranged(5, "--top", low=1, help="Strongest edges shown per node, at least 1.")
HEATMAP = typer.Option(None, "--heatmap", help="Also draw the --task matrix (default kpt) as a PNG.")


def _inspected_tasks(g, graph: Path, task: str | None, node: str | None) -> list[str]:
    """The tasks to show: ``task``, or every task (holding ``node`` when one is given)."""
    tasks = _checked_tasks(g, graph, [task] if task else list(g.tasks))
    if node is not None and task is None:
        tasks = [t for t in tasks if node in g.names(t)]
        if not tasks:
            raise ValueError(f"{graph}: no node {node!r} in any task graph ({', '.join(g.tasks)})")
    return tasks


def _provenance_table(g, graph: Path):
    from rich.table import Table

    from ktn_kg.summary import provenance_lines

    info = Table(title=f"{graph.name}", show_header=False)
    for key, value in provenance_lines(g):
        info.add_row(key, value)
    return info


@app.command()
@guarded
def inspect(graph: Path = GRAPH, task: str | None = TASK, node: str | None = NODE, top: int = TOP,
            heatmap: Path | None = HEATMAP) -> None:  # fmt: skip
    """Provenance summary, then each node's strongest edges with their M_s, M_f and I components."""
    from ktn_kg import load_graph
    from ktn_kg.summary import save_heatmap, strongest_edges

    if heatmap is not None:
        check_output_file(heatmap)
    g = load_graph(graph)
    tasks = _inspected_tasks(g, graph, task, node)
    written = None if heatmap is None else save_heatmap(g, task or next(iter(g.tasks)), heatmap)
    console = _console()
    console.print(_provenance_table(g, graph))
    for t in tasks:
        console.print(_table(f"{t}: top {top} edges per node", strongest_edges(g, t, node, top).drop(columns="task")))
    if written is not None:
        typer.echo(f"wrote {written}")


FIRST = typer.Argument(..., help="First graph file.")
SECOND = typer.Argument(..., help="Second graph file.")
TOL = ranged(0.0, "--tol", low=0.0, help="Report edges whose |b - a| exceeds this (>= 0).")


@app.command()
@guarded
def diff(a: Path = FIRST, b: Path = SECOND, tol: float = TOL) -> None:
    """Edges whose weight changed beyond --tol, and provenance differences. Exit code 0: none, 1: some differ."""
    import pandas as pd

    from ktn_kg import load_graph
    from ktn_kg.summary import diff_edges, diff_provenance

    ga, gb = load_graph(a), load_graph(b)
    changes = pd.DataFrame(diff_provenance(ga, gb), columns=["field", a.name, b.name]).astype(str)
    edges = diff_edges(ga, gb, tol)
    if changes.empty and edges.empty:
        _console().print(f"no differences beyond tol={tol}")
        return
    _print_differences(changes, edges, tol)
    raise typer.Exit(DIFFERENCES_FOUND)


def _print_differences(changes, edges, tol: float) -> None:
    console = _console()
    if not changes.empty:
        console.print(_table("provenance differences", changes))
    if edges.empty:
        console.print(f"no edge of the common tasks differs by more than {tol}")
    else:
        console.print(_table(f"{len(edges)} edges differ by more than {tol}", edges, "{:.6g}"))


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

    (check_output_folder if fmt == "ktn-release" else check_output_file)(out)
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

    check_output_file(out)
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
