"""`anycost validate` and `anycost preview`: look before anything is sent."""

import os
from decimal import Decimal
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf import decimals
from anycost_pipeline.cbf.columns import COST, LINE_ITEM_TYPE
from anycost_pipeline.cbf.spec import source_columns
from anycost_pipeline.cli.common import progress, require_source, say
from anycost_pipeline.config import (
    AnycostConfig,
    ConfigError,
    SourceConfig,
    config_path,
    load_config,
)
from anycost_pipeline.defs.in_memory import source_cbf_with_problems
from anycost_pipeline.figures import counted, shown
from anycost_pipeline.months import Month
from anycost_pipeline.sources.shared_files import shared_files
from anycost_pipeline.triggers import refresh_warning, sum_resend_warning

MAX_FILES_NAMED = 3


def _file_header(name: str, source: SourceConfig, file: str) -> tuple[set[str], str]:
    """A file's columns as the source reads it (its `format`, `encoding`, `delimiter`, ...; the
    object name as it is, never a glob), or why it cannot be read."""
    from anycost_pipeline.sources.files import SourceFilesError, file_columns

    try:
        return set(file_columns(name, source, file)), ""
    except SourceFilesError as error:
        return set(), (
            f"{error}; check the file and the source's `format` (and `encoding`, `delimiter`, "
            "`skip_rows`) in anycost.yaml."
        )


def _check_files_source(
    name: str, source: SourceConfig, config: AnycostConfig
) -> tuple[str, list[str]]:
    from anycost_pipeline.sources.files import list_files

    pattern = config.resolve_path(source.path)
    try:
        files = list_files(pattern)
    except (OSError, ValueError) as error:
        return "", [
            f"source {name!r}: cannot list {pattern!r} ({error}); check `path` in anycost.yaml and that the location is reachable."
        ]
    if not files:
        return "", [f"source {name!r}: no file matches {pattern!r}; check `path` in anycost.yaml."]
    problems = []
    wanted = {tuple(group) for spec in source.columns.values() for group in source_columns(spec)}
    missing: dict[str, list[str]] = {}
    for file in files:
        header, unreadable = _file_header(name, source, file)
        if unreadable:
            problems.append(unreadable)
            continue
        for group in sorted(g for g in wanted if not header.intersection(g)):
            missing.setdefault(" or ".join(repr(c) for c in group), []).append(Path(file).name)
    for column, where in missing.items():
        named = ", ".join(where[:MAX_FILES_NAMED]) + (
            f" and {len(where) - MAX_FILES_NAMED} more" if len(where) > MAX_FILES_NAMED else ""
        )
        problems.append(
            f"source {name!r}: column {column}, used in its `columns` mapping, is missing from {named}; "
            "fix the mapping or the export."
        )
    return (
        f"{counted(len(files), 'file')} {'matches' if len(files) == 1 else 'match'} {source.path}",
        problems,
    )


def _deployment_problems(config: AnycostConfig) -> list[str]:
    """The sandbox target in a production deployment (the container image), unless allowed."""
    try:
        config.require_target_allowed()
    except ConfigError as error:
        return [str(error) + "."]
    return []


def _api_url_problems() -> list[str]:
    """CLOUDZERO_API_URL that is not the API's base (a `/v2` at its end is accepted)."""
    from anycost_pipeline.cloudzero.client import DEFAULT_API_URL, api_base_url, require_api_base

    try:
        require_api_base(api_base_url(os.environ.get("CLOUDZERO_API_URL") or DEFAULT_API_URL))
    except ValueError as error:
        return [f"{error}."]
    return []


def _storage_problems(config: AnycostConfig) -> list[str]:
    """Where frames and state go, said; a missing bucket or an unwritable place, returned."""
    from anycost_pipeline.storage import storage_report

    progress("checking storage")
    lines, problems = storage_report(config)
    for line in lines:
        say(f"  {line}")
    return problems


def validate() -> int:
    """Load anycost.yaml, check every source's location and every connection; list problems."""
    config = load_config()
    say(f"Configuration: {config_path()} (target: {config.cloudzero.target})")
    problems: list[str] = _storage_problems(config)
    warnings = trigger_warnings(config)
    for name, source in config.sources.items():
        progress(f"checking source {name}")
        kind = getattr(source, "kind", "files")
        if kind != "files":
            say(
                f"  source {name}: kind {kind!r}, reached only when a month runs (not checked here)"
            )
            continue
        found, bad = _check_files_source(name, source, config)
        problems += bad
        if found:
            say(f"  source {name}: {found}{'' if bad else ', mapped columns present'}")
    sandbox = config.cloudzero.target == "sandbox"
    for connection, spec in config.connections.items():
        sources = sorted(config.sources_of(connection))
        try:
            cid = spec.resolve_id(connection, sandbox=sandbox)
            say(f"  connection {connection}: id {cid}, fed by {', '.join(sources) or 'no source'}")
        except ConfigError as error:
            problems.append(str(error) + ".")
        if not sources:
            problems.append(
                f"connection {connection!r}: no source sends to it; add a source with `connection: {connection}` or remove it."
            )
    problems += _deployment_problems(config)
    problems += [pair.sentence(config.base_dir) + "." for pair in shared_files(config)]
    try:
        config.require_one_owner_per_connection_id()
    except ConfigError as error:
        problems.append(str(error) + ".")
    if not sandbox:
        problems += _api_url_problems()
    if not sandbox and not os.environ.get("CLOUDZERO_API_KEY", "").strip():
        problems.append(
            "CLOUDZERO_API_KEY is not set; export your CloudZero API key (see the README's 'Going live')."
        )
    if warnings:
        say(f"\n{counted(len(warnings), 'warning')} (money that is sent twice or never):")
        for warning in warnings:
            say(f"  - {warning}.")
    if problems:
        say(f"\n{counted(len(problems), 'problem')}:")
        for problem in problems:
            say(f"  - {problem}")
        return 1
    say("\nNo problems found." + (" Read the warnings above." if warnings else ""))
    return 0


def trigger_warnings(config: AnycostConfig) -> list[str]:
    """What the sensors and schedules would send twice or never (see `triggers`)."""
    found = []
    for name, source in config.sources.items():
        found.append(sum_resend_warning(name, source, config))
        if source.pulled:
            found.append(refresh_warning(name, source))
    return [w for w in found if w]


def _totals(frame: pl.DataFrame, by: str, label: str) -> list[str]:
    if by not in frame.columns:
        return []
    lines = [f"Cost by {label}:"]
    for (key,), group in sorted(frame.group_by(by), key=lambda kg: str(kg[0][0])):
        total = decimals.exact_sum(group.select(decimals.plain(pl.col(COST))).to_series())
        lines.append(f"  {str(key):24} {counted(group.height, 'row'):>13}  {shown(total):>16}")
    return lines


def preview(source: str, month: str, rows: int) -> int:
    """Print the CBF rows and totals that would be sent for one source and month; send nothing."""
    config = load_config()
    require_source(config, source)
    return show_preview(config, source, str(Month.parse(month)), rows)


def show_preview(config: AnycostConfig, source: str, month: str, rows: int) -> int:
    """`preview` of a project given as a config (e.g. one not yet written to anycost.yaml)."""
    progress(f"reading {source} for {month} and converting it to CBF (nothing is sent)")
    frames, checks, explained = source_cbf_with_problems(config, [source], month)
    cbf = frames[source]
    visible = cbf.select([c for c in cbf.columns if not c.startswith("_")])
    total = (
        decimals.exact_sum(cbf.select(decimals.plain(pl.col(COST))).to_series())
        if COST in cbf.columns
        else Decimal(0)
    )
    say(
        f"Preview of {source}, {month}, for connection {config.sources[source].connection}: {cbf.height:,} CBF rows, cost {shown(total)}"
    )
    with pl.Config(
        tbl_rows=rows,
        tbl_cols=-1,
        fmt_str_lengths=48,
        tbl_width_chars=240,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        say(str(visible.head(rows)))
    if cbf.height > rows:
        say(f"(first {rows} of {cbf.height:,} rows; --rows N shows more)")
    for line in [
        *_totals(cbf, LINE_ITEM_TYPE, "line item type"),
        *_totals(cbf, "resource/service", "service"),
    ]:
        say(line)
    say(f"Total: {shown(total)}")
    failed = [name for name, passed in checks.items() if not passed]
    say(
        "Checks: "
        + (
            ", ".join(f"{n} {'passed' if p else 'FAILED'}" for n, p in sorted(checks.items()))
            or "none"
        )
    )
    if failed:
        for name in failed:
            say(f"\n{name} failed:\n{explained.get(name, '')}")
        say(
            "\nA failing check stops this month from being sent: fix the rows named above, then preview again."
        )
        return 1
    return 0
