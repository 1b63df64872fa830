"""`anycost add-source --vendor NAME`: a ready-made connector as a source of anycost.yaml, the
environment variables its key is read from, and a month previewed from the vendor."""

import json
import os
import string
from typing import Any

from anycost_pipeline.cbf.presets import CONNECTORS, PRESETS
from anycost_pipeline.cli.add_source import _blank, _connection, _validated, write_or_show
from anycost_pipeline.cli.common import CliError, say
from anycost_pipeline.cli.inspect import show_preview
from anycost_pipeline.config import URL_FIELDS, ConfigError, config_path, load_config
from anycost_pipeline.months import Month
from anycost_pipeline.sources.propose import appended, project_head


def vendors() -> list[str]:
    """The ready-made connectors, by preset name (`anycost_pipeline/connectors/*.yaml`)."""
    return sorted(path.stem for path in CONNECTORS.glob("*.yaml"))


def key_variables(preset: dict[str, Any]) -> list[str]:
    """The environment variables a connector reads its credentials from (`auth.*env*` and
    the variables of `auth.extra_headers`)."""
    auth = preset.get("auth") or {}
    named = [value for key, value in auth.items() if key.endswith("env") and value]
    return named + list((auth.get("extra_headers") or {}).values())


def own_placeholders(preset: dict[str, Any]) -> list[str]:
    """The values a connector's URL or parameters need from the user (`{org}` of GitHub's
    path), beside the month's placeholders."""
    params = preset.get("params") or {}
    templates = [preset.get("url") or "", preset.get("base_url") or ""] + [
        one for value in params.values() for one in (value if isinstance(value, list) else [value])
    ]
    names = [
        field
        for template in templates
        for _, field, _, _ in string.Formatter().parse(str(template))
        if field and field not in URL_FIELDS
    ]
    return list(dict.fromkeys(names))


def _placeholder_values(vendor: str, given: list[str]) -> dict[str, str]:
    """`--placeholder NAME=VALUE` options as a dict, refused unless they are exactly the
    connector's own placeholders."""
    values: dict[str, str] = {}
    for option in given:
        key, equals, value = option.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise CliError(f"--placeholder {option!r}: write NAME=VALUE, e.g. org=acme")
        values[key.strip()] = value.strip()
    needed = own_placeholders(PRESETS[vendor])
    missing = [n for n in needed if n not in values]
    unknown = [n for n in values if n not in needed]
    if missing:
        raise CliError(
            f"--vendor {vendor} needs "
            + " ".join(f"--placeholder {n}=VALUE" for n in missing)
            + " (part of its URL; README: Ready-made connectors); nothing was written."
        )
    if unknown:
        raise CliError(
            f"--vendor {vendor} has no placeholder {', '.join(unknown)}"
            + (f"; it takes {', '.join(needed)}" if needed else "; it takes none")
            + "; nothing was written."
        )
    return values


def vendor_block(
    name: str,
    vendor: str,
    connection: str,
    base_url: str | None,
    placeholders: dict[str, str] | None = None,
) -> str:
    """The source as an entry of `sources:`, with where its key comes from in a comment."""
    preset = PRESETS[vendor]
    hint = (preset.get("auth") or {}).get("hint")
    lines = [
        f"  # Ready-made connector `{vendor}` (README: Ready-made connectors). Its key is read "
        f"from {', '.join(key_variables(preset)) or 'no variable'}"
        + (f": {' '.join(str(hint).split())}." if hint else "."),
        f"  {name}:",
        f"    connection: {connection}",
        f"    preset: {vendor}",
    ]
    if base_url:
        lines.append(f"    base_url: {base_url}")
    if placeholders:
        values = ", ".join(f"{k}: {json.dumps(v)}" for k, v in placeholders.items())
        lines.append(f"    placeholders: {{{values}}}")
    return "\n".join(lines) + "\n"


def add_vendor(
    vendor: str,
    name: str | None,
    connection: str | None,
    base_url: str | None,
    month: str | None,
    write: bool,
    rows: int,
    placeholders: list[str] | None = None,
) -> int:
    """Write (or print) the vendor's source block and preview a month pulled from the vendor."""
    known = vendors()
    if vendor not in known:
        raise CliError(
            f"--vendor {vendor!r} is not a ready-made connector; use one of: {', '.join(known)}."
        )
    target = config_path()
    config = load_config() if target.is_file() and not _blank(target) else None
    chosen = _connection(config, connection)
    name = name or vendor
    if config is not None and name in config.sources:
        raise CliError(
            f"{target} already has a source {name!r}; choose another name with --name NAME."
        )
    # The last whole month by default: a vendor's current month is still growing.
    wanted = month or str(Month.current().previous())
    block = vendor_block(
        name, vendor, chosen, base_url, _placeholder_values(vendor, placeholders or [])
    )
    text = (
        appended(target.read_text(encoding="utf-8"), block)
        if config
        else project_head(wanted, chosen) + block
    )
    project = _validated(text, target.parent)
    if project.start_month > wanted:
        project = project.model_copy(update={"start_month": wanted})
    write_or_show(target, text, block, name, chosen, write)
    missing = [v for v in key_variables(PRESETS[vendor]) if not os.environ.get(v, "").strip()]
    if missing:
        say(
            f"Set {', '.join(missing)} in the environment, then preview a month from the vendor: "
            f"anycost preview {name} {wanted}"
        )
        return 1
    try:
        return show_preview(project, name, wanted, rows)
    except ConfigError as error:
        raise CliError(str(error)) from None
