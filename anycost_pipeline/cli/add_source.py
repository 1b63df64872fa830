"""`anycost add-source PATH`: propose a source's mapping from a sample export and preview it."""

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from anycost_pipeline.cli.common import CliError, progress, say
from anycost_pipeline.cli.inspect import show_preview
from anycost_pipeline.config import AnycostConfig, ConfigError, config_path, load_config
from anycost_pipeline.sources.propose import (
    ProposalError,
    appended,
    evidence_text,
    new_project_text,
    propose,
    yaml_block,
)
from anycost_pipeline.sources.shared_files import SharedFiles, shared_files

DEFAULT_CONNECTION = "main"


def _source_name(sample: Path) -> str:
    stem = sample.name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "source"
    return name if not name[0].isdigit() else f"source_{name}"


def _connection(config: AnycostConfig | None, wanted: str | None) -> str:
    if config is None:
        return wanted or DEFAULT_CONNECTION
    if wanted is not None:
        if wanted not in config.connections:
            raise CliError(
                f"{wanted!r} is not a connection in {config_path()}; use one of: "
                f"{', '.join(config.connections)} (or add it under connections: first)."
            )
        return wanted
    if len(config.connections) == 1:
        return next(iter(config.connections))
    raise CliError(
        f"{config_path()} has several connections ({', '.join(config.connections)}); "
        "say which one the source feeds with --connection NAME."
    )


def _written_path(sample: Path, folder: Path) -> str:
    """The sample's path as anycost.yaml writes it: relative to the file's folder when inside it."""
    try:
        return sample.relative_to(folder).as_posix()
    except ValueError:
        return sample.as_posix()


def _validated(text: str, folder: Path) -> AnycostConfig:
    try:
        data = yaml.safe_load(text)
        return AnycostConfig.model_validate({**data, "base_dir": folder})
    except Exception as error:  # noqa: BLE001 - a proposal the model refuses is our bug
        raise CliError(
            f"the proposed configuration is not valid ({error}); nothing was written. Please "
            "report this with the sample's header row."
        ) from None


def _already_read(
    sample: Path,
    name: str,
    connection: str,
    shared: list[SharedFiles],
    month: str,
    target: Path | None,
) -> str:
    """The sample is read by a source of the connection already: a second would send it twice."""
    others = [pair.first if pair.second == name else pair.second for pair in shared]
    written = (
        f"nothing was written to {target}"
        if target
        else "--write refuses to add it to anycost.yaml"
    )
    return (
        f"{sample}: source{'s' if len(others) > 1 else ''} {' and '.join(map(repr, others))} of "
        f"connection {connection!r} already read{'' if len(others) > 1 else 's'} this file, so a "
        f"new source {name!r} on it would send its rows twice every month; {written}. To see "
        f"how it is mapped now: anycost preview {others[0]} {month}."
    )


def _blank(file: Path) -> bool:
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8")) is None
    except yaml.YAMLError:
        return False  # the load says what is wrong with it


def _invoice_total(text: str | None) -> Decimal | None:
    if text is None:
        return None
    plain = text.strip()
    try:
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", plain):
            raise InvalidOperation
        return Decimal(plain)
    except InvalidOperation:
        raise CliError(
            f"--total {text!r} is not a plain decimal amount; write the invoice's total as "
            "digits with a decimal point, e.g. --total 1234.56 (no currency sign, no grouping)."
        ) from None


def write_or_show(
    target: Path, text: str, block: str, name: str, connection: str, write: bool
) -> None:
    """Write anycost.yaml's new `text` (with `--write`) and show the source's block either way."""
    if write:
        target.write_text(text, encoding="utf-8")
        say(f"Added source {name!r} (connection {connection!r}) to {target}:\n")
    else:
        say(f"Proposed source {name!r} for {target} (not written; --write adds it):\n")
    say(block)


def add_source(
    sample: str,
    name: str | None,
    connection: str | None,
    write: bool,
    rows: int,
    total: str | None = None,
) -> int:
    """Propose a source for the sample, print it or add it to anycost.yaml, preview its first month."""
    invoice = _invoice_total(total)
    target = config_path()
    # An empty anycost.yaml (or one of comments only) is a project not begun: the load's own
    # error tells the user to run this command, so it writes the first source.
    config = load_config() if target.is_file() and not _blank(target) else None
    chosen = _connection(config, connection)
    path = Path(sample).resolve()
    name = name or _source_name(path)
    if config is not None and name in config.sources:
        raise CliError(
            f"{target} already has a source {name!r}; choose another name with --name NAME."
        )
    progress(f"reading {path} and proposing a mapping")
    try:
        proposal, _ = propose(path, name, chosen, invoice)
    except ProposalError as error:
        raise CliError(f"{path}: {error}.") from None
    proposal.source["path"] = _written_path(path, target.parent)
    block = yaml_block(proposal)
    text = (
        appended(target.read_text(encoding="utf-8"), block)
        if config is not None
        else new_project_text(proposal, chosen)
    )
    project = _validated(text, target.parent)
    shared = [pair for pair in shared_files(project) if name in (pair.first, pair.second)]
    if shared and write:
        raise CliError(_already_read(path, name, chosen, shared, proposal.first_month, target))
    if project.start_month > proposal.first_month:
        say(
            f"Note: the sample starts in {proposal.first_month}, before start_month "
            f"({project.start_month}) in {target}; lower start_month to send it."
        )
        project = project.model_copy(update={"start_month": proposal.first_month})
    say(evidence_text(proposal))
    if proposal.summary_rows:
        say(f"Proposed source {name!r} for {target} (not written):\n")
        say(block)
        raise CliError(
            f"{path}: {len(proposal.summary_rows)} row(s) of the sample sum other rows "
            f"({'; '.join(f'row {r.row}: {r.why}' for r in proposal.summary_rows)}). Counted, "
            "they would send the cost twice, and anycost.yaml has no key that leaves rows out. "
            "Remove them from the export (or export it without totals) and run add-source "
            "again; nothing was written."
        )
    if shared:
        say(f"Warning: {_already_read(path, name, chosen, shared, proposal.first_month, None)}\n")
    write_or_show(target, text, block, name, chosen, write)
    try:
        return show_preview(project, name, proposal.first_month, rows)
    except ConfigError as error:
        raise CliError(str(error)) from None
