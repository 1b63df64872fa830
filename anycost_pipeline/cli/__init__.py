"""`anycost`: run, inspect and correct billing months without the Dagster UI."""

import argparse
import os
import signal
import sys
from typing import NoReturn

from anycost_pipeline.cli import heap
from anycost_pipeline.cli.common import CliError

DEBUG_ENV_VAR = "ANYCOST_DEBUG"

# One rule for every command (README, "The `anycost` command"): 0 done; 1 a problem, named on
# stderr (anycost.yaml, a command line, a source, CloudZero, a month that failed); 2 only
# `anycost plan`'s "changes pending", so a script can tell pending months from a mistake.
OK = 0
PROBLEM = 1
INTERRUPTED = 130


class PlanFailed(Exception):
    """`anycost plan` could not judge the months (its exit code is 1, not 2: 2 is 'pending')."""


class _Parser(argparse.ArgumentParser):
    """argparse, exiting 1 on a command line it cannot read (its own default, 2, is what
    `anycost plan` answers for "changes pending")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(PROBLEM, f"{self.prog}: error: {message}\n")


def _month(text: str) -> str:
    """A month argument, refused with the command line when it is not YYYY-MM (so a form such
    as `reconcile CONNECTION MONTH` fails before anything is read)."""
    from anycost_pipeline.months import Month

    try:
        return str(Month.parse(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    """The command line `anycost` reads (the README's command forms are tested against it)."""
    top = _Parser(prog="anycost", description="Send cost sources to CloudZero AnyCost Stream.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="read, convert, check and send months (default: every month the sources hold)"
    )
    run.add_argument("months", nargs="*", metavar="YYYY-MM", type=_month)
    run.add_argument(
        "--force",
        action="store_true",
        help="send each month even if CloudZero already holds it unchanged (on a sum "
        "connection: also after a submission that may already be in CloudZero)",
    )

    plan = commands.add_parser(
        "plan",
        help="each month of each connection: send, clear, unchanged or conflict, against what "
        "CloudZero holds; send nothing (exit 0 nothing to do, 2 changes pending, 1 error)",
    )
    plan.add_argument("months", nargs="*", metavar="YYYY-MM", type=_month)
    plan.add_argument(
        "--connection", action="append", default=[], help="only this connection (repeatable)"
    )

    overlaps = commands.add_parser(
        "overlaps",
        help="cost of a month also in another source or connection, or invoiced by another "
        "party; send nothing (exit 0 none found, 2 found, 1 error)",
    )
    overlaps.add_argument("months", nargs="+", metavar="YYYY-MM")
    overlaps.add_argument(
        "--connection", action="append", default=[], help="only this connection (repeatable)"
    )

    commands.add_parser(
        "validate",
        help="check anycost.yaml, every source's files and every connection; send nothing",
    )

    preview = commands.add_parser(
        "preview", help="the CBF rows and totals a source would send for a month; send nothing"
    )
    preview.add_argument("source")
    preview.add_argument("month", metavar="YYYY-MM", type=_month)
    preview.add_argument("--rows", type=int, default=20, help="how many rows to print (default 20)")

    add = commands.add_parser(
        "add-source",
        help="propose a source's mapping from a sample export and preview its first month",
    )
    add.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="a sample export: CSV, TSV, Parquet, JSON, NDJSON (.gz too); or give --vendor",
    )
    add.add_argument(
        "--vendor",
        metavar="NAME",
        help="a ready-made connector instead of a sample (openai, ...; README: Ready-made "
        "connectors): writes its block and previews a month pulled from the vendor",
    )
    add.add_argument(
        "--base-url",
        metavar="URL",
        help="with --vendor: the vendor's API at another address (a proxy, a regional site)",
    )
    add.add_argument(
        "--month",
        metavar="YYYY-MM",
        type=_month,
        help="with --vendor: the month to preview (default: last month)",
    )
    add.add_argument(
        "--placeholder",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="with --vendor: a value the connector's URL needs (github: org=LOGIN, twilio: "
        "account_sid=AC...); repeat for several",
    )
    add.add_argument("--name", help="the source's name (default: from the file name)")
    add.add_argument(
        "--connection", help="the connection it feeds (default: the project's only connection)"
    )
    add.add_argument(
        "--write", action="store_true", help="add it to anycost.yaml (default: print it only)"
    )
    add.add_argument("--rows", type=int, default=10, help="preview rows to print (default 10)")
    add.add_argument(
        "--total",
        metavar="AMOUNT",
        help="the invoice's total for the sample: the proposed cost column must add up to it",
    )

    commands.add_parser(
        "check",
        help="ask CloudZero, with the configured key, for each connection's drop list; send nothing",
    )

    dry = commands.add_parser(
        "dry-run", help="write the exact request bodies of a month to a folder; send nothing"
    )
    dry.add_argument("month", metavar="YYYY-MM", type=_month)
    dry.add_argument("--out", help="folder for the bodies (default: <storage>/dry-run/<month>)")
    dry.add_argument(
        "--connection", action="append", default=[], help="only this connection (repeatable)"
    )
    dry.add_argument(
        "--live",
        "--validate",
        dest="validate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask the target's validate endpoint about each body (stores nothing); default: on when cloudzero.target is live",
    )

    sandbox = commands.add_parser(
        "sandbox", help="the built-in local sandbox: serve it, or show what it holds"
    )
    sandbox_commands = sandbox.add_subparsers(
        dest="sandbox_command", required=True, metavar="ACTION"
    )
    serve = sandbox_commands.add_parser(
        "serve", help="run the sandbox API on 127.0.0.1 until Ctrl-C"
    )
    serve.add_argument("--port", type=int, default=8765)
    for holder in (sandbox_commands, commands):
        show = holder.add_parser(
            "show", help="what the local sandbox holds for a connection and month"
        )
        show.add_argument("connection")
        show.add_argument("month", metavar="YYYY-MM", type=_month)

    reconcile = commands.add_parser(
        "reconcile", help="compare what CloudZero holds for months with what was last sent"
    )
    reconcile.add_argument("months", nargs="+", metavar="YYYY-MM", type=_month)
    reconcile.add_argument(
        "--connection", action="append", default=[], help="only this connection (repeatable)"
    )
    reconcile.add_argument(
        "--contents", action="store_true", help="also download the months and compare cost totals"
    )

    delete = commands.add_parser(
        "delete-month",
        help="empty a month in CloudZero (an empty replace_drop); needs --yes-delete-month",
    )
    delete.add_argument("connection")
    delete.add_argument("month", metavar="YYYY-MM", type=_month)
    delete.add_argument(
        "--yes-delete-month",
        dest="confirmed",
        action="store_true",
        help="confirm that the month is to be emptied",
    )
    return top


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        from anycost_pipeline.cli.run import run

        return run(args.months, force=args.force)
    if args.command == "plan":
        from anycost_pipeline.cli.plan import plan

        try:
            return plan(args.months, args.connection)
        except Exception as error:  # 2 means "changes pending": an error is 1, as documented
            raise PlanFailed(error) from error
    if args.command == "overlaps":
        from anycost_pipeline.cli.overlaps import overlaps

        try:
            return overlaps(args.months, args.connection)
        except Exception as error:  # 2 means "found": an error is 1
            raise PlanFailed(error) from error
    if args.command == "validate":
        from anycost_pipeline.cli.inspect import validate

        return validate()
    if args.command == "preview":
        from anycost_pipeline.cli.inspect import preview

        return preview(args.source, args.month, args.rows)
    if args.command == "add-source":
        if (args.path is None) == (args.vendor is None):
            raise CliError(
                "give a sample export (anycost add-source PATH) or a ready-made connector "
                "(anycost add-source --vendor NAME), not both and not neither"
            )
        if args.vendor is None and (args.base_url or args.month or args.placeholder):
            raise CliError("--base-url, --month and --placeholder go with --vendor NAME")
        if args.vendor is not None and args.total:
            raise CliError("--total goes with a sample export, not with --vendor")
        if args.vendor is not None:
            from anycost_pipeline.cli.add_vendor import add_vendor

            return add_vendor(
                args.vendor,
                args.name,
                args.connection,
                args.base_url,
                args.month,
                args.write,
                args.rows,
                args.placeholder,
            )
        from anycost_pipeline.cli.add_source import add_source

        return add_source(args.path, args.name, args.connection, args.write, args.rows, args.total)
    if args.command == "check":
        from anycost_pipeline.cli.check import check

        return check()
    if args.command == "dry-run":
        from anycost_pipeline.cli.submit import dry_run

        return dry_run(args.month, args.out, args.connection, args.validate)
    if args.command == "reconcile":
        from anycost_pipeline.cli.reconcile import reconcile

        return reconcile(args.months, args.connection, args.contents)
    if args.command == "delete-month":
        from anycost_pipeline.cli.submit import delete_month

        return delete_month(args.connection, args.month, args.confirmed)
    from anycost_pipeline.cli import sandbox

    if args.command == "sandbox" and args.sandbox_command == "serve":
        return sandbox.serve(args.port)
    return sandbox.show(args.connection, args.month)


def entry() -> NoReturn:
    """The `anycost` command: `main` in a process of its own, which ends with it."""
    heap.own_process()
    try:
        code = main()
    finally:
        heap.ending()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command != "run":  # which says itself when its imports are done
        heap.imports_done()
    # SIGTERM (a scheduler, Kubernetes, `kill`) stops a command as Ctrl-C does. Dagster gives
    # SIGTERM whatever SIGINT does when a run ends, and a process a script starts in the
    # background has SIGINT ignored: SIGTERM would be ignored from the first month on.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get(DEBUG_ENV_VAR):
        return _dispatch(args)
    # Every error the user can fix carries its own advice; nobody needs a traceback for those.
    from anycost_pipeline.cbf.errors import BadSourceData
    from anycost_pipeline.cloudzero.errors import CloudZeroError
    from anycost_pipeline.config import ConfigError
    from anycost_pipeline.sources.files import SourceFilesError

    try:
        return _dispatch(args)
    except (
        CliError,
        ConfigError,
        CloudZeroError,
        SourceFilesError,
        BadSourceData,
        ValueError,
    ) as error:
        print(f"anycost: {error}", file=sys.stderr)
        return PROBLEM
    except PlanFailed as failed:
        print(f"anycost: {failed.__cause__}", file=sys.stderr)
        return PROBLEM
    except KeyboardInterrupt:
        print("anycost: interrupted.", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:  # noqa: BLE001 - the last line of defence for the console
        import dagster as dg

        if isinstance(error, dg.Failure):
            print(f"anycost: {error.description}", file=sys.stderr)
            return PROBLEM
        print(
            f"anycost: unexpected {type(error).__name__}: {error}. Run again with "
            f"{DEBUG_ENV_VAR}=1 to see the details, and report them if the cause is not yours.",
            file=sys.stderr,
        )
        return PROBLEM
