"""Reading anycost.yaml: where it is, and errors that name the file and the dotted key."""

import os
import re
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
    """Read and validate anycost.yaml; raise ConfigError naming the key that is wrong and its line."""
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
    if data is None:
        raise ConfigError(f"{file}: the file is empty; {REQUIRED_KEYS}")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: expected keys at the top level, found {type(data).__name__} "
            f"{_first_line(text)!r}; {REQUIRED_KEYS}"
        )
    lines = key_lines(text)
    try:
        config = AnycostConfig.model_validate({**data, "base_dir": file.parent})
    except ValidationError as exc:
        raise ConfigError(
            f"{file}: " + "; ".join(_describe(e, lines) for e in exc.errors())
        ) from None
    except RecursionError:
        raise ConfigError(f"{file}: values nested too deeply to check") from None
    _refuse_shared_files(config, file, lines)
    return config


REQUIRED_KEYS = (
    "anycost.yaml needs at least `start_month` (the first billing month, YYYY-MM), "
    "`connections` (each CloudZero AnyCost Stream connection, with its `connection_id`) and "
    "`sources` (where costs come from, each with its `connection`). Copy the example under "
    "'Configuration' in the README, or run `anycost add-source EXPORT --write` to write a "
    "first source from a sample export"
)


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")[:60]


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line (from 1) of every key of the file, by its path of keys (list items by index)."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*path, str(key.value)), key.start_mark.line + 1)
                    walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines.setdefault((*path, str(index)), item.start_mark.line + 1)
                walk(item, (*path, str(index)))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _line_of(keys: list[str], lines: dict[tuple[str, ...], int]) -> tuple[int, str] | None:
    """The line of the deepest of `keys` written in the file, and that key's dotted path."""
    for end in range(len(keys), 0, -1):
        if tuple(keys[:end]) in lines:
            return lines[tuple(keys[:end])], ".".join(keys[:end])
    return None


def _describe(error: dict, lines: dict[tuple[str, ...], int]) -> str:
    # Pydantic names union members in the location ("FromColumn", "function-before[...]");
    # a user only needs the path of keys they wrote.
    keys = [str(part) for part in error["loc"] if not _is_pydantic_label(str(part))]
    message = error["msg"].removeprefix("Value error, ")
    if not keys:
        # A rule across keys (a source's connection, storage and state) names its key first.
        named = re.match(r"([A-Za-z0-9_./:-]+): ", message)
        if named and named.group(1).split(".")[0] in AnycostConfig.model_fields:
            keys, message = named.group(1).split("."), message[named.end() :]
    where = ".".join(keys) or "(top level)"
    if error["type"] == "missing":
        message = "is required but missing"
    elif error["type"] == "extra_forbidden":
        message = "is not a known key (check its spelling against the README)"
    found = _line_of(keys, lines)
    if found is None:
        return f"{where}: {message}"
    line, written = found
    if written != where and error["type"] == "missing":
        message += f" (add it under {written})"
    return f"line {line}: {where}: {message}"


def _is_pydantic_label(part: str) -> bool:
    return part[:1].isupper() or "[" in part or part.startswith("function-")


def _refuse_shared_files(
    config: AnycostConfig, file: Path, lines: dict[tuple[str, ...], int]
) -> None:
    """Two `files` sources of one connection that read the same local file would send its
    rows twice every month (object stores are listed by `anycost validate` and checked again,
    from the month's own rows, before anything is sent)."""
    from anycost_pipeline.sources.shared_files import shared_files

    shared = shared_files(config, local_only=True)
    if shared:
        described = []
        for pair in shared:
            line = lines.get(("sources", pair.second, "path"))
            where = f"line {line}: " if line else ""
            described.append(where + pair.sentence(file.parent))
        raise ConfigError(f"{file}: " + "; ".join(described))
