"""Every name the definitions give and the CLI, the checks and the tests look up again.

Asset keys, op, check, job, sensor and schedule names, tags and the metadata keys that other
code reads back. Plain strings, no Dagster: the CLI imports this without loading Dagster.
"""

# Asset layers: raw/<source>, cbf/<source> (and rejects/<source>), drop/<connection>. Each layer
# is also the asset group, so the UI's graph and sidebar draw it as a box with the layer's name
# (the graph labels a node with the last part of its key, the same in every layer).
RAW, CBF, REJECTS, DROP = "raw", "cbf", "rejects", "drop"

# The frames' IO manager: its own key, so a Dagster project that adds the component keeps its
# own `io_manager` for its other assets. Both resource keys are scoped (see `scoped`).
FRAMES_IO_MANAGER = "anycost_frames"
CLOUDZERO = "cloudzero"

# Metadata of a step's inputs: the asset that reads them and every frame it reads, so a
# missing frame's failure can name all the missing ones, not only the first one loaded.
READER, READS = "anycost/reader", "anycost/reads"

# Checks on cbf/<source> (blocking, blocking, warning) and on drop/<connection>.
ROWS_VALID = "rows_valid"
COST_CONSERVED = "cost_conserved"
DISCOUNTED_COST_MATCHES = "discounted_cost_matches"
MATCHES_CLOUDZERO = "matches_cloudzero"
NO_DOUBLE_COUNT = "no_double_count"  # the overlap check of drop/<connection>

# Outputs of the cbf/<source> multi-asset.
CBF_OUTPUT, REJECTS_OUTPUT = "cbf", "rejects"

# Jobs.
SUBMIT_MONTH = "submit_month"
RECONCILE_MONTH = "reconcile_month"

# Run tags.
SOURCE_TAG, TRIGGER_TAG = "anycost/source", "anycost/trigger"
PID_TAG, HOST_TAG = "anycost/pid", "anycost/host"
PROCESS_TAG = "anycost/process"  # unique to one process: a pid is reused (pid 1 in a container)

# Metadata keys read back after a run: by the reconcile check, `anycost run` and the tests.
ROWS = "rows"
TOTAL_COST = "total_cost"
TOTAL_COST_EXACT = "total_cost_exact"
# Rows whose cost cannot be read: the month's total leaves them out, so it is partial.
ROWS_WITHOUT_A_COST = "rows_without_a_readable_cost"
MONTH = "month"
FILES_USED = "files_used"
# An incremental source's month as its raw run found it (see sources/restated.py).
CONTENT_DIGEST = "content_digest"
COST_BY_LINE_ITEM_TYPE = "cost_by_line_item_type"
COST_BY_SERVICE = "cost_by_service"
STATUS = "status"
VERDICT = "verdict"  # why the month was sent, cleared, kept or left alone, in words
SETTLED = "settled"  # final or estimated, and why (`settles`)
LATE_CHANGE = "late_change"  # a month final at CloudZero whose sources changed, sent again
DROP_IDS = "drop_ids"
BODIES = "bodies"
CHANGE = "change"
ROWS_CLOUDZERO_REPORTS = "rows_cloudzero_reports"  # the rows CloudZero listed right after a send
# Failure metadata of a drop step: what CloudZero holds of the month now (NOTHING_SENT, ...).
DELIVERY = "delivery"


def raw_key(source: str) -> list[str]:
    return [RAW, source]


def cbf_key(source: str) -> list[str]:
    return [CBF, source]


def rejects_key(source: str) -> list[str]:
    return [REJECTS, source]


def drop_key(connection: str) -> list[str]:
    return [DROP, connection]


def scoped(name: str, scope: str) -> str:
    """A project-wide name (a resource key, a job) of a project in a code location that may hold
    several (two anycost folders in one Dagster project): `submit_month_<scope>`. A project's
    own asset, sensor and schedule names come from its source and connection names already."""
    return f"{name}_{scope}" if scope else name


def made_from(key: str) -> list[str]:
    """The assets a layer's asset (`cbf/<source>`) is made from, in the order to make them."""
    layer, _, name = key.partition("/")
    return ["/".join(raw_key(name))] if layer == CBF else []


def op_name(key: list[str]) -> str:
    """The op (node, step) that materialises an asset key: its parts joined by `__`."""
    return "__".join(key)


def raw_op(source: str) -> str:
    return op_name(raw_key(source))


def cbf_op(source: str) -> str:
    return op_name(cbf_key(source))


def drop_op(connection: str) -> str:
    return op_name(drop_key(connection))


def reconcile_op(connection: str) -> str:
    """The op of the `matches_cloudzero` check on drop/<connection>, as Dagster names it."""
    return f"{drop_op(connection)}_{MATCHES_CLOUDZERO}"


def check_label(key: list[str] | tuple[str, ...], check: str) -> str:
    """How the CLI names a check: `cbf/<source>:rows_valid`."""
    return f"{'/'.join(key)}:{check}"


def step_label(step: str) -> str:
    """A step as the UI names what it makes: `drop/<connection>` for `drop__<connection>`, and
    `drop/<connection>:matches_cloudzero` for the reconcile check's step."""
    layer, joined, name = step.partition("__")
    if not joined:
        return step
    check = f"_{MATCHES_CLOUDZERO}"
    if layer == DROP and name.endswith(check):
        return check_label([DROP, name.removesuffix(check)], MATCHES_CLOUDZERO)
    return f"{layer}/{name}"


def connection_job_name(connection: str) -> str:
    """The job that reads, converts, checks and sends one month of one connection's sources."""
    return f"send_{connection}"


def sensor_name(source: str) -> str:
    return f"watch_{source}"


def restated_sensor_name(source: str) -> str:
    return f"restated_{source}"


def schedule_name(source: str) -> str:
    return f"refresh_{source}"


def plan_sensor_name(connection: str) -> str:
    return f"plan_{connection}"
