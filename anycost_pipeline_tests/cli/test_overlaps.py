"""The overlap check: cost that a connection's month shares with another source or connection,
or that another party invoices, through `anycost run` (the drop's `no_double_count` check)
and `anycost overlaps`."""

import shutil

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import REPO, Project, printed_words

CONNECTION = "simple_cloud_main"
MARKETPLACE = REPO / "anycost_pipeline_tests" / "fixtures" / "focus-spec"
HEADER = "date,service,amount,invoice,resource\n"


def _two_sources(project: Project, overlap: dict | None = None, second_connection: bool = False):  # type: ignore[no-untyped-def]
    """Sources `vendor_a` and `vendor_b`, each holding invoice INV-7 for 2024-08 (a reseller's
    export beside the vendor's own), on one connection or two."""
    config = project.config()
    for name, rows in {
        "vendor_a": "2024-08-03,Support,60.00,INV-7,r-1\n2024-08-04,Support,40.00,INV-7,r-2\n"
        "2024-08-05,Compute,5.00,INV-8,r-3\n",
        "vendor_b": "2024-08-03,Support,100.00,INV-7,r-9\n",
    }.items():
        folder = project.root / name
        folder.mkdir()
        (folder / "export.csv").write_text(HEADER + rows)
        config["sources"][name] = {
            "connection": "second" if second_connection and name == "vendor_b" else CONNECTION,
            "kind": "files",
            "path": f"{name}/*.csv",
            "format": "csv",
            "columns": {
                "time/usage_start": "date",
                "cost/cost": "amount",
                "resource/service": "service",
                "bill/invoice_id": "invoice",
                "resource/id": "resource",
            },
        }
    del config["sources"]["simple_cloud"]
    if second_connection:
        config["connections"]["second"] = {"connection_id": "second-conn"}
    if overlap is not None:
        config["overlap"] = overlap
    project.write_config(config)


def test_two_sources_sharing_an_invoice_are_reported_and_the_month_is_sent_under_warn(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_sources(project)
    assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert f"WARNING drop/{CONNECTION} no_double_count: 2024-08: 1 possible double count(s)" in said
    assert (
        "same invoice: vendor_a and vendor_b share invoice INV-7 (2 row(s), cost 100.00 in "
        "vendor_a; 1 row(s), cost 100.00 in vendor_b)" in said
    )
    assert "2024-08: sent" in said
    held = SandboxStore(project.storage / "sandbox").month_rows(CONNECTION, "2024-08")
    assert len(held) == 4  # warn: reported, and the month sent as the sources hold it

    assert main(["overlaps", "2024-08"]) == 2
    said = printed_words(capsys)
    assert f"2024-08 {CONNECTION}: 1 possible double count(s) (overlap.mode: warn)" in said
    assert "share invoice INV-7" in said


def test_under_fail_the_month_is_not_sent_and_the_words_say_so(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_sources(project, overlap={"mode": "fail"})
    assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert f"2024-08 was not sent to connection {CONNECTION}; nothing was sent" in said
    assert "found 1 overlap(s): same invoice: vendor_a and vendor_b share invoice INV-7" in said
    assert "2024-08: nothing sent" in said
    assert SandboxStore(project.storage / "sandbox").month_rows(CONNECTION, "2024-08") == []


def test_an_allowed_pair_is_not_reported_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_sources(
        project, overlap={"mode": "fail", "allow": [{"sources": ["vendor_b", "vendor_a"]}]}
    )
    assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "no_double_count" not in said and "2024-08: sent" in said
    assert main(["overlaps", "2024-08"]) == 0
    assert f"2024-08 {CONNECTION}: no cost found anywhere else" in printed_words(capsys)


def test_an_invoice_in_two_connections_is_reported_by_each(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_sources(project, second_connection=True)
    assert main(["overlaps", "2024-08"]) == 2
    said = printed_words(capsys)
    assert (
        "same invoice: vendor_a and connection second share invoice INV-7 (2 row(s), cost "
        "100.00 in vendor_a; 1 row(s), cost 100.00 in connection second)" in said
    )
    assert "vendor_b and connection simple_cloud_main share invoice INV-7" in said
    # The drop of the second connection holds it against what the first last sent.
    assert main(["run", "2024-08"]) == 0
    assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert (
        "WARNING drop/second no_double_count: 2024-08: 1 possible double count(s)" in said
        and "vendor_b and connection simple_cloud_main share invoice INV-7" in said
    )


def _marketplace(project: Project, billed: str | None, native: list[str] | None = None) -> None:
    """The FOCUS specification's marketplace example (Solora AI's model, invoiced by the cloud
    'Aura Web'), with BilledCost as given or replaced by `billed`."""
    folder = project.root / "marketplace"
    folder.mkdir(exist_ok=True)
    source = MARKETPLACE / "foundation_model_via_csp_marketplace.csv"
    if billed is None:
        shutil.copy(source, folder / "export.csv")
    else:
        lines = source.read_text().splitlines(keepends=True)
        rows = [billed + line[line.index(",") :] for line in lines[1:]]
        (folder / "export.csv").write_text(lines[0] + "".join(rows))
    config = project.config()
    config["start_month"] = "2025-01"
    config["sources"] = {
        "marketplace": {
            "connection": CONNECTION,
            "kind": "files",
            "path": "marketplace/*.csv",
            "format": "csv",
            "preset": "focus",
        }
    }
    if native:
        config["overlap"] = {"native": native}
    project.write_config(config)


def test_a_marketplace_charge_invoiced_by_another_party_is_reported(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _marketplace(project, billed=None)
    assert main(["overlaps", "2025-05"]) == 2
    assert (
        "invoiced by another party: marketplace has charges provided by 'Solora AI' and "
        "invoiced by 'Aura Web' (2 row(s), cost 47.50 in marketplace)" in printed_words(capsys)
    )


def test_the_same_marketplace_file_with_zero_billed_cost_is_not_reported(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _marketplace(project, billed="0.00", native=["aws"])
    assert main(["overlaps", "2025-05"]) == 0
    assert f"2025-05 {CONNECTION}: no cost found anywhere else" in printed_words(capsys)


def test_a_charge_invoiced_by_a_native_platform_is_named(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    _marketplace(project, billed=None, native=["aws"])
    export = project.root / "marketplace" / "export.csv"
    export.write_text(export.read_text().replace("Aura Web", '"Amazon Web Services, Inc."'))
    assert main(["overlaps", "2025-05"]) == 2
    said = printed_words(capsys)
    assert (
        "native platform: marketplace has charges invoiced by 'Amazon Web Services, Inc.', "
        "which CloudZero ingests natively (aws) (2 row(s), cost 47.50 in marketplace)" in said
    )
    config = project.config()
    config["overlap"]["allow"] = [{"source": "marketplace", "issuer": "Amazon Web Services, Inc."}]
    project.write_config(config)
    assert main(["overlaps", "2025-05"]) == 0


def test_an_allowed_name_that_is_neither_source_nor_connection_is_refused(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    config = project.config()
    config["overlap"] = {"allow": [{"sources": ["simple_cloud", "vendr"]}], "native": ["aws"]}
    project.write_config(config)
    assert main(["validate"]) != 0
    said = printed_words(capsys)
    assert "overlap.allow: 'vendr' is neither a source nor a connection" in said
    assert "Traceback" not in said


def test_off_means_no_check_on_the_drop(project: Project) -> None:
    with project.config_file.open("a") as config:
        config.write("overlap:\n  mode: off\n")  # YAML reads an unquoted off as false
    checks = project.definitions().resolve_asset_graph().asset_check_keys
    assert {c.name for c in checks if c.asset_key.path[0] == "drop"} == {"matches_cloudzero"}
