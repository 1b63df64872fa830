"""What an in-process run's result says of its failed steps, in the user's words."""

from anycost_pipeline.defs.names import step_label

# The step-by-step log stays in the run history; the console gets the summary (failures are
# printed by the commands themselves, in one sentence, without Dagster's stack traces).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}

# Dagster wraps what failed in a step ("Error occurred while …"); its cause names the problem.
WRAPPERS = {
    "DagsterExecutionHandleOutputError": "storing the step's frame failed: ",
    "DagsterExecutionLoadInputError": "reading the frame of an earlier step failed: ",
    "DagsterExecutionStepExecutionError": "",
    "DagsterResourceFunctionError": "setting up a resource failed: ",
}


def error_text(error) -> str:  # type: ignore[no-untyped-def]  # SerializableErrorInfo
    """What failed, in one line: the innermost cause of Dagster's wrapper errors, with what
    the step was doing when it failed."""
    doing = ""
    while error.cause is not None and error.cls_name in WRAPPERS:
        doing += WRAPPERS[error.cls_name]
        error = error.cause
    return doing + " ".join(error.message.split())


def failure_messages(result) -> list[str]:  # type: ignore[no-untyped-def]
    """The step failures of an in-process run, as the user-facing messages."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            data = event.step_failure_data
            text = (
                data.user_failure_data.description if data.user_failure_data else None
            ) or error_text(data.error)
            messages.append(f"{step_label(event.step_key)}: {text.strip()}")
    return messages
