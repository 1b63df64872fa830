"""The Dagster Component: what anycost.yaml declares, written as `attributes:` of a defs.yaml.

An existing Dagster project adds the adaptor with a `defs.yaml` of
`type: anycost_pipeline.AnycostComponent`; `dg check yaml` checks its keys against the same
models `anycost.yaml` is read with, and this project's own `anycost.yaml` is built through this
class too (`defs/build.py`), so both ways give the same definitions.
"""

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import dagster as dg
from pydantic import BaseModel, Field

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.config import (
    AnycostConfig,
    AnySource,
    CloudZeroConfig,
    ConfigError,
    ConnectionConfig,
    load_config,
)
from anycost_pipeline.config.loader import DEFAULT_CONFIG_NAME
from anycost_pipeline.config.overlap import OverlapConfig
from anycost_pipeline.defs.build import build_definitions

# The attributes are validated by the project's own pydantic models (the schema `dg check yaml`
# and the docs show); the component keeps the validated values as they are.
_KEEP = lambda context, value: value  # noqa: E731


def _attribute(model_type: Any, description: str) -> dg.Resolver:
    return dg.Resolver(_KEEP, model_field_type=model_type, description=description)


_TEMPLATE = """\
type: {type_name}

# The keys of anycost.yaml (see the adaptor's README). Relative paths are relative to this
# folder. Until cloudzero.target is live, months go to the built-in local sandbox.
attributes:
  start_month: "2024-01"          # first monthly partition (UTC)
  storage: .anycost               # frames and submission records, relative to this folder
  cloudzero:
    target: sandbox               # sandbox (built in) or live (needs CLOUDZERO_API_KEY)
  connections:
    vendor_main:
      # The AnyCost Stream connection id from CloudZero (Settings > Connections).
      connection_id: env:VENDOR_CONNECTION_ID
  sources:
    vendor:
      connection: vendor_main
      kind: files
      # Put the vendor's export files in exports/ beside this file before the first launch.
      path: exports/*.csv         # one or more files; a month is read from the rows dated in it
      format: csv
      timezone: UTC
      columns:                    # CBF column: the export's column that holds it
        time/usage_start: date
        cost/cost: amount
        resource/service: service
"""


class AnycostScaffolder(dg.Scaffolder):
    """`dg scaffold defs anycost_pipeline.AnycostComponent <folder>`: a commented defs.yaml."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        (request.target_path / "defs.yaml").write_text(
            _TEMPLATE.format(type_name=request.type_name), encoding="utf-8"
        )
        # The state (`storage`) lands beside defs.yaml, inside the host's package: not for git.
        (request.target_path / ".gitignore").write_text(
            "# anycost's frames, submission journal and sandbox (`storage:` in defs.yaml)\n.anycost/\n",
            encoding="utf-8",
        )


@dg.scaffold_with(AnycostScaffolder)
class AnycostComponent(dg.Component, dg.Resolvable, dg.Model):
    """Send cost exports, APIs or databases to CloudZero AnyCost Stream, a month at a time.

    Each source is read into `raw/<source>`, converted to CloudZero's Common Bill Format in
    `cbf/<source>` and sent by `drop/<connection>`, one monthly partition at a time.
    The attributes are the keys of the adaptor's `anycost.yaml` (see its README). Relative
    paths are relative to the folder of this `defs.yaml`. Secrets come from environment
    variables (`env:NAME` values and CLOUDZERO_API_KEY), never from this file.
    """

    start_month: str = Field(description="first monthly partition (UTC), as YYYY-MM")
    storage: str = Field(
        default=".anycost",
        description="folder for frames, the sandbox's state and submission records",
    )
    state: str | None = Field(
        default=None,
        description="folder for the journal, locks, sandbox, batches and file index; "
        "required when storage is an object-store URL",
    )
    cloudzero: Annotated[
        Any,
        _attribute(
            CloudZeroConfig,
            "where drops go: target sandbox (built in, the default) or live, limits, timeouts",
        ),
    ] = None
    connections: Annotated[
        dict[str, Any],
        _attribute(
            dict[str, ConnectionConfig],
            "CloudZero AnyCost Stream connections by name: connection_id (or env:NAME), operation",
        ),
    ]
    sources: Annotated[
        dict[str, Any],
        _attribute(
            dict[str, AnySource],
            "where costs come from by name: kind, path or url or query, format, columns, connection",
        ),
    ]

    overlap: Annotated[
        Any,
        _attribute(
            OverlapConfig,
            "the overlap check of every connection: mode warn, fail or off; native platforms; "
            "allowed overlaps",
        ),
    ] = None

    @classmethod
    def from_file(cls, path: Path | str | None = None) -> "AnycostComponent":
        """The component an `anycost.yaml` declares (its errors name the file and the key)."""
        project = load_config(path)
        return cls(
            **{name: getattr(project, name) for name in cls.model_fields},
        )

    @classmethod
    def model(cls) -> type[BaseModel]:
        return _attributes_model(super().model())

    def project(
        self, base_dir: Path, scope: str = "", declared_in: str = DEFAULT_CONFIG_NAME
    ) -> AnycostConfig:
        """The validated project, with relative paths resolved against `base_dir`."""
        fields = {name: getattr(self, name) for name in type(self).model_fields}
        for optional in ("cloudzero", "overlap"):
            if fields[optional] is None:
                del fields[optional]
        extra = {"base_dir": base_dir, "scope": scope, "declared_in": declared_in}
        return AnycostConfig.model_validate({**fields, **extra})

    def definitions(
        self, base_dir: Path, scope: str = "", declared_in: str = DEFAULT_CONFIG_NAME
    ) -> dg.Definitions:
        return build_definitions(self.project(base_dir, scope, declared_in))

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        defs_yaml = context.path / "defs.yaml"
        try:
            declared_in = str(defs_yaml.absolute().relative_to(context.project_root.absolute()))
        except ValueError:
            declared_in = str(defs_yaml)
        try:
            return self.definitions(context.path, component_scope(context), declared_in)
        except ConfigError as error:  # its words name anycost.yaml, which this project has not
            raise ConfigError(str(error).replace(DEFAULT_CONFIG_NAME, declared_in)) from None


def component_scope(context: dg.ComponentLoadContext) -> str:
    """The component's folder under `defs/` (`costs/team_a` → `costs_team_a`): it sets the
    resource keys and job names of one anycost folder apart from another's in the same code
    location, so a Dagster project can hold several, each with its own state."""
    try:
        parts = context.path.absolute().relative_to(context.defs_module_path.absolute()).parts
    except ValueError:
        parts = (context.path.name,)
    return re.sub(r"[^A-Za-z0-9_]", "_", "_".join(parts))


def _precise(schema: dict[str, Any]) -> dict[str, Any]:
    """The attributes' JSON schema, shaped so `dg check yaml` names the line of a wrong key.

    Dagster lets every attribute be a template string too; these are plain YAML, and a union
    with a string would report a misspelled key at the attribute instead of at the key. `kind`
    picks a source's model, as in `config.AnySource` (files when it is left out).
    """
    properties = schema["properties"]
    for name in ("cloudzero", "connections", "sources", "overlap"):
        prop = properties[name]
        prop.update(next(b for b in prop.pop("anyOf") if b.get("type") != "string"))
    for name, field in AnycostComponent.model_fields.items():  # Dagster keeps few of them
        if field.description and name in properties:
            properties[name].setdefault("description", field.description)
    ref = "#/$defs/{}Source".format

    # A vendor preset brings its kind: `preset: openai` alone is an http source,
    # `preset: snowflake` a sql one.
    def of_kind(kind: str) -> dict[str, Any]:
        presets = [name for name, keys in PRESETS.items() if keys.get("kind") == kind]
        return {
            "anyOf": [
                {"required": ["kind"], "properties": {"kind": {"const": kind}}},
                {
                    "required": ["preset"],
                    "properties": {"preset": {"enum": presets}},
                    "not": {"required": ["kind"]},
                },
            ]
        }

    properties["sources"]["additionalProperties"] = {
        "if": of_kind("http"),
        "then": {"$ref": ref("Http")},
        "else": {
            "if": of_kind("sql"),
            "then": {"$ref": ref("Sql")},
            "else": {"$ref": ref("Files")},
        },
    }
    return schema


@cache
def _attributes_model(derived: type[BaseModel]) -> type[BaseModel]:
    class AnycostAttributes(derived):  # type: ignore[misc, valid-type]
        @classmethod
        def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
            return _precise(super().model_json_schema(*args, **kwargs))

    return AnycostAttributes
