"""The ``vitrine`` command: the composition root that wires settings, catalog, encoders and index.

vitrine migrate                 create or upgrade the catalog database
vitrine load CATALOG [--images DIR_OR_ZIP]
vitrine reindex [--offline]     rebuild the index from the catalog for the current settings
vitrine reconcile [--dry-run]   find and repair differences between the catalog and the index
vitrine index repair            rebuild a lost or unreadable index from the catalog
vitrine train-fusion [--epochs N] [--seed S] [--out CHECKPOINT.npz]
vitrine eval --catalog CATALOG [--images DIR_OR_ZIP] --queries QUERIES.jsonl [--out REPORT.json]
vitrine serve [--host H] [--port P]
vitrine worker [--once] [--poll S]  run admin upload jobs (server mode)
vitrine admin create-token NAME | list-tokens | revoke-token NAME
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from backend.catalog import db
from backend.catalog import service as catalog_service
from backend.errors import VitrineError
from backend.search.params import MAX_LIMIT, MODES
from backend.settings import Settings
from loaders.evaluation import (
    DEFAULT_MODES,
    UnsoundEvaluation,
    app_search,
    check_coverage,
    loaded_catalog,
    missing_warning,
    read_queries,
    run_queries,
    with_tuning,
)
from loaders.fusion_training import TrainingConfig, train_head
from loaders.jobs import run_worker
from loaders.pipeline import load_into, opened, reindex_into
from loaders.reconcile import reconcile_deployment
from loaders.reindex import rebuild
from loaders.repair import repair
from loaders.sources import read_catalog

# Exit codes: 0 done, 1 done but some rows failed (or a reconcile dry run found differences),
# 2 usage, 3 could not run.
EXIT_ROWS_FAILED = 1
EXIT_DIFFERENCES = 1
EXIT_FAILED = 3


images_option = click.option(
    "--images",
    type=click.Path(exists=True, path_type=Path),
    help="Folder or .zip holding the images the rows name.",
)

queries_option = click.option(
    "--queries",
    "queries_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled queries: one JSON object a line (id, task, text or image, relevant).",
)


def _require_migrated(settings: Settings) -> None:
    if not db.is_up_to_date(settings.database_url):
        raise VitrineError("the catalog database is not migrated: run `vitrine migrate`")


def _fail(exc: VitrineError) -> None:
    click.secho(f"error: {exc.message}", fg="red", err=True)
    sys.exit(EXIT_FAILED)


def _total_setter(bar: tqdm[Any]) -> Callable[[int], None]:
    """A callback that gives ``bar`` its total once a command knows it."""

    def started(total: int) -> None:
        bar.total = total
        bar.refresh()

    return started


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Vitrine: multimodal product search backend."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Settings.from_env()


@main.command()
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Create or upgrade the catalog database to the latest schema."""
    db.migrate(settings.database_url)
    click.echo(f"catalog database is up to date ({_safe_url(settings.database_url)})")


@main.command()
@click.argument("catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@images_option
@click.option(
    "--errors-json",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-row errors to this JSON file.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.pass_obj
def load(
    settings: Settings,
    catalog: Path,
    images: Path | None,
    errors_json: Path | None,
    progress: bool,
) -> None:
    """Load CATALOG (.csv or .jsonl) into the catalog and the search index."""
    try:
        total = sum(1 for _ in read_catalog(catalog))
        with tqdm(total=total, unit="row", disable=not progress, desc=catalog.name) as bar:
            summary = load_into(settings, catalog, images, progress=bar.update)
    except VitrineError as exc:
        _fail(exc)
    for error in summary.errors:
        where = f"line {error.line}" if error.line is not None else "file"
        sku = f" ({error.sku})" if error.sku else ""
        click.echo(f"  {where}{sku}: {error.reason}", err=True)
    if errors_json is not None:
        errors_json.write_text(
            json.dumps([e.__dict__ for e in summary.errors], ensure_ascii=False, indent=2)
        )
    click.echo(summary.line())
    if summary.fusion_note:
        click.echo(summary.fusion_note, err=True)
    if summary.failed:
        sys.exit(EXIT_ROWS_FAILED)


def _modes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    modes = tuple(dict.fromkeys(m.strip().lower() for m in value.split(",") if m.strip()))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise click.BadParameter(f"use some of {','.join(MODES)}, not {value!r}")
    return modes


@main.command("eval")
@click.option(
    "--catalog",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Catalog (.csv or .jsonl) to load into a throwaway index.",
)
@images_option
@queries_option
@click.option(
    "--modes",
    default=",".join(DEFAULT_MODES),
    show_default=True,
    callback=_modes,
    help="Search modes to run, comma-separated.",
)
@click.option(
    "--k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, MAX_LIMIT),
    help="Results retrieved per query.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report to this JSON file.",
)
@click.option(
    "--tuning",
    "tuning_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Search with the weights `vitrine tune --out` wrote (fitted on this catalog).",
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@click.pass_obj
def eval_(
    settings: Settings,
    catalog: Path,
    images: Path | None,
    queries_path: Path,
    modes: tuple[str, ...],
    k: int,
    out: Path | None,
    tuning_file: Path | None,
    progress: bool,
) -> None:
    """Score search on labelled queries: Recall@1/5/10, MRR and nDCG@10 per task and mode.

    The catalog is loaded into a temporary folder (deleted afterwards), so the deployment's
    own catalog and index are not touched; exported models are reused from its model cache.
    """
    try:
        query_set = read_queries(queries_path, settings=settings)
        with ExitStack() as stack:
            total = sum(1 for _ in read_catalog(catalog))
            with tqdm(total=total, unit="row", disable=not progress, desc=catalog.name) as bar:
                loaded = stack.enter_context(
                    loaded_catalog(settings, catalog, images, progress=bar.update)
                )
            for error in loaded.summary.errors:
                where = f"line {error.line}" if error.line is not None else "file"
                sku = f" ({error.sku})" if error.sku else ""
                click.echo(f"  {where}{sku}: {error.reason}", err=True)
            click.echo(loaded.summary.line())
            if tuning_file is not None:
                loaded = with_tuning(loaded, tuning_file)
            missing = check_coverage(loaded, query_set)
            if missing:
                click.secho(f"warning: {missing_warning(missing)}", fg="yellow", err=True)
            with tqdm(
                total=len(query_set.queries),
                unit="query",
                disable=not progress,
                desc=queries_path.name,
            ) as bar:
                report = run_queries(loaded, query_set, modes=modes, k=k, progress=bar.update)
    except VitrineError as exc:
        _fail(exc)
    click.echo(report.table())
    if out is not None:
        out.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")


@main.command()
@queries_option
@click.option(
    "--catalog",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fit on this catalog loaded into a throwaway index instead of the deployment's.",
)
@images_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the weights (default: the deployment's <var>/tuning.json, "
    "which its searches use).",
)
@click.option("--folds", default=2, show_default=True, type=click.IntRange(2, 10))
@click.pass_obj
def tune(
    settings: Settings,
    queries_path: Path,
    catalog: Path | None,
    images: Path | None,
    out: Path | None,
    folds: int,
) -> None:
    """Fit hybrid search's signal weights on this catalog's judged queries.

    Each query is ranked by every signal once; weights for RRF and for DBSF are then fitted
    per query bucket (cjk, foreign, long, short) on mean nDCG@10. Prints each bucket's score
    under the rules and each fusion's held-out score (fitted on the other folds). A bucket gets
    the better fusion's weights only when that beats the rules; hybrid searches use them while
    the collection keeps its encoders.
    """
    from backend.index.compat import spec_record
    from backend.search.tuning import save_tuning, tuning_path
    from loaders.tuning import cross_validate, rank_queries, tuning_for

    try:
        query_set = read_queries(queries_path, settings=settings)
        with ExitStack() as stack:
            if catalog is not None:
                loaded = stack.enter_context(loaded_catalog(settings, catalog, images))
                service = loaded.service
            else:
                service = stack.enter_context(app_search(settings))
            info = service.index.info()
            if info is None or not service.index.count():
                raise UnsoundEvaluation("the search index is empty: load a catalog first")
            ranked = rank_queries(service, query_set.queries)
            if not ranked:
                raise UnsoundEvaluation(f"{queries_path} has no text queries to fit on")
            reports = cross_validate(ranked, folds)
            tuning = tuning_for(ranked, reports, spec_record(info.spec), source=str(queries_path))
    except VitrineError as exc:
        _fail(exc)
    click.echo(f"{'bucket':13} {'n':>4} {'rules':>6} {'rrf':>6} {'dbsf':>6}  uses (held out)")
    for report in reports:
        held = [report.held_out.get(f) for f in ("rrf", "dbsf")]
        shown = " ".join(f"{h:6.3f}" if h is not None else f"{'n/a':>6}" for h in held)
        weights = tuning.for_bucket(report.bucket)
        uses = "the rules"
        if weights:
            listed = ", ".join(f"{k} {v:g}" for k, v in weights.items())
            uses = f"{tuning.fusion(report.bucket)}: {listed}"
        click.echo(f"{report.bucket:13} {report.queries:>4} {report.rules:6.3f} {shown}  {uses}")
    target = out or tuning_path(settings)
    save_tuning(target, tuning)
    click.echo(f"wrote {target}")


@main.command()
@click.option(
    "--offline",
    is_flag=True,
    help="Drop the index and rebuild it in place (search has no index until it ends).",
)
@click.option(
    "--wait",
    default=30.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Seconds to wait for a running server to switch before leaving the old version to it.",
)
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.pass_obj
def reindex(settings: Settings, offline: bool, wait: float, progress: bool) -> None:
    """Rebuild the search index from the catalog (new encoders or fusion head).

    A new collection version is built while the current one keeps serving, then made
    current; a running `vitrine serve` switches to it without a restart.
    """
    with tqdm(unit="product", desc="reindex", disable=not progress) as bar:
        started = _total_setter(bar)
        try:
            if offline:
                done = reindex_into(settings, progress=bar.update, on_start=started)
            else:
                summary = rebuild(
                    settings, release_timeout=wait, progress=bar.update, on_start=started
                )
        except VitrineError as exc:
            _fail(exc)
    click.echo(f"{done} products indexed" if offline else summary.line())


@main.command()
@click.option("--dry-run", is_flag=True, help="Only report what differs; change nothing.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.pass_obj
def reconcile(settings: Settings, dry_run: bool, progress: bool) -> None:
    """Find and repair products missing from the index, stale vectors and orphan points.

    Exit code 0 when the catalog and the index agree (or now agree), 1 when a dry run found
    differences.
    """
    try:
        _require_migrated(settings)
        with tqdm(unit="product", desc="reconcile", disable=not progress) as bar:
            report = reconcile_deployment(settings, dry_run=dry_run, progress=bar.update)
    except VitrineError as exc:
        _fail(exc)
    for line in report.details():
        click.echo(f"  {line}")
    click.echo(("(dry run) " if dry_run else "") + report.line())
    if dry_run and not report.clean:
        sys.exit(EXIT_DIFFERENCES)


@main.group("index")
def index_group() -> None:
    """Look after the vector index."""


@index_group.command("repair")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@click.pass_obj
def index_repair(settings: Settings, progress: bool) -> None:
    """Rebuild a missing or unreadable index from the catalog.

    An unreadable folder is moved aside (``<name>.corrupt-<time>``), not deleted; a running
    `vitrine serve` answers 503 until the rebuilt index is current, then serves it. An index
    that reads fine is reconciled with the catalog instead.
    """
    try:
        _require_migrated(settings)
        with tqdm(unit="product", desc="repair", disable=not progress) as bar:
            summary = repair(settings, progress=bar.update, on_start=_total_setter(bar))
    except VitrineError as exc:
        _fail(exc)
    for line in summary.lines():
        click.echo(line)


@main.command("train-fusion")
@click.option("--epochs", default=TrainingConfig.epochs, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=TrainingConfig.seed, show_default=True, type=int)
@click.option(
    "--views",
    default=TrainingConfig.image_views,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Augmented pictures per product.",
)
@click.option(
    "--max-products",
    default=TrainingConfig.max_products,
    show_default=True,
    type=click.IntRange(1),
    help="Train on a seeded sample of this many products when the catalog has more.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Checkpoint file (default: <model cache>/fusion-<encoders>-seed<S>.npz).",
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@click.pass_obj
def train_fusion(
    settings: Settings,
    epochs: int,
    seed: int,
    views: int,
    max_products: int,
    out: Path | None,
    progress: bool,
) -> None:
    """Train the fusion head on the loaded catalog's own text and pictures.

    Searches that choose their own signals use the head only while it knows every indexed
    product, so a sample (--max-products below the catalog size) serves mode=fused only.
    """
    from backend.encoders.registry import (
        dictionary_from_settings,
        encoders_from_settings,
        glossary_from_settings,
    )

    config = TrainingConfig(epochs=epochs, seed=seed, image_views=views, max_products=max_products)
    try:
        _require_migrated(settings)
        text, image = encoders_from_settings(settings)
        assert settings.model_cache_dir is not None and settings.media_dir is not None
        out = out or settings.model_cache_dir / f"fusion-{text.name}-{image.name}-seed{seed}.npz"
        engine = db.make_engine(settings.database_url)
        with ExitStack() as stack:
            stack.callback(engine.dispose)
            sessions = db.make_sessionmaker(engine)
            with db.session_scope(sessions) as session:
                total = catalog_service.count_products(session=session)
            bar = stack.enter_context(
                tqdm(total=total, unit="product", desc="encoding views", disable=not progress)
            )

            def on_epoch(epoch: int, loss: float) -> None:
                if progress:
                    tqdm.write(f"epoch {epoch:4d}/{epochs}  loss {loss:.4f}")

            head = train_head(
                sessions,
                out,
                text=text,
                image=image,
                media_dir=settings.media_dir,
                config=config,
                glossary=glossary_from_settings(settings, text),
                dictionary=dictionary_from_settings(settings),
                progress=bar.update,
                on_epoch=on_epoch,
                cache_dir=settings.model_cache_dir,
            )
    except VitrineError as exc:
        _fail(exc)
    trained = head.trained
    click.echo(
        f"trained {head.name} on {trained['products']} products "
        f"({trained['text_views']} text views, {trained['image_views']} picture views): "
        f"loss {trained['first_loss']} -> {trained['last_loss']} in "
        f"{trained['encode_seconds']} s encoding + {trained['train_seconds']} s training; "
        f"views of {trained['pictures_encoded']} pictures encoded, "
        f"{trained['with_picture'] - trained['pictures_encoded']} from the cache"
    )
    if trained["products"] < total:
        click.echo(
            f"note: a sample of {trained['products']} of the catalog's {total} products; hybrid "
            "search, picture search, similar and recommend leave the fused vector out until "
            "the head knows every product (--max-products)",
            err=True,
        )
    click.echo(f"wrote {out}; serve and load with VITRINE_FUSION_HEAD={out}")


@main.command()
@click.option("--host", default=None, help="Interface to listen on (VITRINE_HOST).")
@click.option("--port", default=None, type=int, help="Port (VITRINE_PORT).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the HTTP API in this process (embedded mode: it holds the index folder)."""
    from backend.serving import make_app_server
    from loaders.wsgi import close, serving_app

    host = host or settings.host
    port = port or settings.port
    try:
        app = serving_app(
            settings, warn=lambda message: click.secho(f"warning: {message}", fg="yellow", err=True)
        )
    except VitrineError as exc:
        _fail(exc)
    server = make_app_server(app, host, port)
    runs = (
        "upload jobs run here"
        if settings.runs_jobs_in_process
        else "upload jobs wait for `vitrine worker`"
    )
    click.echo(f"Vitrine serving on http://{host}:{port}; {runs}  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        close(app)


@main.command()
@click.option("--once", is_flag=True, help="Run the queued jobs, then exit.")
@click.option(
    "--poll",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds between polls.",
)
@click.pass_obj
def worker(settings: Settings, once: bool, poll: float) -> None:
    """Run admin upload jobs from the jobs table (server mode: Qdrant server + PostgreSQL).

    Claims one queued job at a time (several workers may run side by side), takes over
    jobs whose runner fell silent for VITRINE_JOB_STALE_S seconds, and between jobs
    reconciles the catalog and the index every VITRINE_RECONCILE_INTERVAL_S seconds.
    """
    from backend.jobs import JobContext

    def report(job_id: str, summary: object) -> None:
        line = summary.line() if hasattr(summary, "line") else "interrupted"
        click.echo(f"job {job_id}: {line}")

    try:
        with opened(settings) as deployment:
            context = JobContext(
                settings=settings,
                sessions=deployment.sessions,
                index=lambda: deployment.index,
                encoders=deployment.encoders.load,
                fusion=lambda: deployment.encoders.fusion,
                dictionary=deployment.encoders.dictionary,
                multilingual=deployment.encoders.multilingual,
            )
            if not once:
                click.echo("vitrine worker: waiting for upload jobs  (Ctrl-C to stop)")
            ran = run_worker(
                context,
                poll_s=poll,
                once=once,
                on_job=report,
                on_reconcile=lambda found: click.echo(f"reconcile: {found.line()}"),
            )
    except VitrineError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        click.echo("stopped; an interrupted job is taken over after VITRINE_JOB_STALE_S")
        return
    click.echo(f"{ran} jobs run")


@main.group()
def admin() -> None:
    """Admin API tokens (sent as 'Authorization: Bearer <token>')."""


@admin.command("create-token")
@click.argument("name")
@click.pass_obj
def create_token(settings: Settings, name: str) -> None:
    """Create a token called NAME and print it (only its hash is kept: copy it now)."""
    from backend.catalog import tokens

    try:
        with _sessions(settings) as sessions, db.session_scope(sessions) as session:
            token = tokens.create_token(session=session, name=name)
    except VitrineError as exc:
        _fail(exc)
    click.echo(token)
    click.echo(f"token {name!r} created; it is shown only once", err=True)


@admin.command("list-tokens")
@click.pass_obj
def list_tokens(settings: Settings) -> None:
    """List tokens: name, created, last used, active or revoked (never the secrets)."""
    from backend.catalog import tokens

    with _sessions(settings) as sessions, db.session_scope(sessions) as session:
        rows = [
            (
                t.name,
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never",
                "revoked" if t.revoked else "active",
            )
            for t in tokens.list_tokens(session=session)
        ]
    if not rows:
        click.echo("no tokens; create one with `vitrine admin create-token NAME`")
        return
    header = ("name", "created", "last used", "status")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@admin.command("revoke-token")
@click.argument("name")
@click.pass_obj
def revoke_token(settings: Settings, name: str) -> None:
    """Revoke the token NAME: admin routes then answer 403 to it."""
    from backend.catalog import tokens

    try:
        with _sessions(settings) as sessions, db.session_scope(sessions) as session:
            tokens.revoke_token(session=session, name=name)
    except VitrineError as exc:
        _fail(exc)
    click.echo(f"token {name!r} revoked")


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the migrated catalog database (migrated here if needed)."""
    db.migrate(settings.database_url)
    engine = db.make_engine(settings.database_url)
    try:
        yield db.make_sessionmaker(engine)
    finally:
        engine.dispose()


def _safe_url(url: str) -> str:
    """A database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
