"""Reading anycost.yaml: where it is, and errors that name the file and the dotted key."""

import os
from collections.abc import Hashable
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
            if not isinstance(key, Hashable):
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be a name, not a list or a mapping", key_node.start_mark
                )
            if key in first and key != "<<":
                raise DuplicateKey(
                    f"line {line}: {key!r} is given twice in the same mapping (first on line "
                    f"{first[key]}); YAML would keep only the last one. Give each a name of its "
                    "own, or remove one"
                )
            first.setdefault(key, line)
        return super().construct_mapping(node, deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> object:
        # YAML reads 2024-13-01 as a date, and Python refuses the 13th month with a bare
        # ValueError: say where it is.
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[no-untyped-call]
        except ValueError as error:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a date or time ({error})", node.start_mark
            ) from None


_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp
)


def load_config(path: Path | str | None = None) -> AnycostConfig:
    """Read and validate anycost.yaml; raise ConfigError naming the key that is wrong."""
    file = Path(path).resolve() if path else config_path()
    if not file.is_file():
        raise ConfigError(
            f"{file}: no such file. Create it (see the README) or point {CONFIG_ENV_VAR} at it."
        )
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{file}: line {line}: byte {raw[exc.start]:#04x} is not UTF-8 text; save the file "
            "as UTF-8"
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except DuplicateKey as exc:
        raise ConfigError(f"{file}: {exc}") from None
    except yaml.reader.ReaderError as exc:  # it gives a position, not a line
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"{file}: not valid YAML: line {line}: character {exc.character!r} is not allowed "
            "in YAML (a control character); remove it"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{file}: not valid YAML: values nested too deeply to read") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: line 1: expected a mapping of keys at the top level (start_month, "
            f"connections, sources, ...), found {type(data).__name__}"
        )
    try:
        return AnycostConfig.model_validate({**data, "base_dir": file.parent})
    except ValidationError as exc:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raise ConfigError(
            f"{file}: " + "; ".join(_describe(e, root) for e in exc.errors())
        ) from None
    except RecursionError:
        raise ConfigError(f"{file}: values nested too deeply to check") from None


def _line_of(root: yaml.Node | None, keys: list[str]) -> int | None:
    """The line of the deepest of `keys` (a path of keys and list indexes) found in the file."""
    node, line = root, None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            found = [
                (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key
            ]
            if not found:
                break
            key_node, node = found[-1]
            line = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _describe(error: dict, root: yaml.Node | None = None) -> str:
    # Pydantic names union members in the location ("FromColumn", "function-before[...]");
    # a user only needs the path of keys they wrote.
    keys = [str(part) for part in error["loc"] if not _is_pydantic_label(str(part))]
    where = ".".join(keys) or "(top level)"
    line = _line_of(root, keys)
    # As a duplicate key is reported: the line first, then the key path.
    if line is not None:
        where = f"line {line}: {where}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required but missing"
    elif error["type"] == "extra_forbidden":
        message = "is not a known key (check its spelling against the README)"
    return f"{where}: {message}"


def _is_pydantic_label(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part.startswith("function-")
