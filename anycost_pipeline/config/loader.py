"""Reading anycost.yaml: where it is, and errors that name the file and the dotted key."""

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from anycost_pipeline.config.base import ConfigError
from anycost_pipeline.config.project import AnycostConfig

CONFIG_ENV_VAR = "ANYCOST_CONFIG"
DEFAULT_CONFIG_NAME = "anycost.yaml"


def config_path() -> Path:
    """Where anycost.yaml is read from."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_NAME).resolve()


class DuplicateKey(yaml.YAMLError):
    """A mapping names the same key twice: YAML would keep the last silently."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (a second source of the
    same name would replace the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in first and key != "<<":
                raise DuplicateKey(
                    f"line {line}: {key!r} is given twice in the same mapping (first on line "
                    f"{first[key]}); YAML would keep only the last one. Give each a name of its "
                    "own, or remove one"
                )
            first.setdefault(key, line)
        return super().construct_mapping(node, deep)


def load_config(path: Path | str | None = None) -> AnycostConfig:
    """Read and validate anycost.yaml; raise ConfigError naming the key that is wrong."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(
            f"{file}: no such file. Create it (see the README) or point {CONFIG_ENV_VAR} at it."
        )
    try:
        data = yaml.load(file.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except DuplicateKey as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected a mapping of keys at the top level")
    try:
        return AnycostConfig.model_validate({**data, "base_dir": file.parent})
    except ValidationError as exc:
        raise ConfigError(f"{file}: " + "; ".join(_describe(e) for e in exc.errors())) from None


def _describe(error: dict) -> str:
    # Pydantic names union members in the location ("FromColumn", "function-before[...]");
    # a user only needs the path of keys they wrote.
    keys = [str(part) for part in error["loc"] if not _is_pydantic_label(str(part))]
    where = ".".join(keys) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required but missing"
    elif error["type"] == "extra_forbidden":
        message = "is not a known key (check its spelling against the README)"
    return f"{where}: {message}"


def _is_pydantic_label(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part.startswith("function-")
