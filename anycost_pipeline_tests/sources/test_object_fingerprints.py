"""What the README says of export files in S3, held against what the listing gives the sensor:
the fingerprint is the ETag and size, so the same bytes uploaded again are no change (even in a
versioned bucket: the listing carries no version id), other bytes are, and the same bytes
uploaded in parts get another ETag. moto's S3 server on 127.0.0.1."""

from collections.abc import Iterator

import fsspec
import pytest
import requests
from s3fs import S3FileSystem

from anycost_pipeline.sources.files import file_infos, fingerprint
from anycost_pipeline_tests.conftest import REPO
from anycost_pipeline_tests.servers import s3_server

BUCKET = "vendor-exports"
KEY = f"{BUCKET}/usage.csv"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3FileSystem]:
    with s3_server() as url:
        # moto keeps its buckets per process, whatever server: start from none, leave none.
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
        for name, value in {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        S3FileSystem.clear_instance_cache()
        fs = fsspec.filesystem("s3")
        fs.mkdir(BUCKET)
        fs.call_s3(
            "put_bucket_versioning",
            Bucket=BUCKET,
            VersioningConfiguration={"Status": "Enabled"},
        )
        yield fs
        S3FileSystem.clear_instance_cache()
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()


def _fingerprint() -> str:
    (info,) = file_infos(f"s3://{BUCKET}/*.csv")
    return fingerprint(info)


def test_the_same_bytes_uploaded_again_are_no_change_other_bytes_are(s3: S3FileSystem) -> None:
    data = b"date,cost\n2024-08-01,1.00\n"
    s3.pipe(KEY, data)
    first = _fingerprint()
    s3.pipe(KEY, data)  # a new version of the object, the same bytes
    versions = s3.call_s3("list_object_versions", Bucket=BUCKET)["Versions"]
    assert len(versions) == 2
    assert _fingerprint() == first
    assert "VersionId" not in next(iter(s3.glob(f"{BUCKET}/*.csv", detail=True).values()))
    s3.pipe(KEY, data.replace(b"1.00", b"2.00"))  # same size, other bytes
    assert _fingerprint() != first


def test_the_same_bytes_uploaded_in_parts_get_another_etag(s3: S3FileSystem) -> None:
    data = b"date,cost\n" + b"2024-08-01,1.00\n" * 700_000  # about 11 MB: three 5 MiB parts
    s3.call_s3("put_object", Bucket=BUCKET, Key="usage.csv", Body=data)
    whole = _fingerprint()
    with s3.open(KEY, "wb", block_size=5 * 2**20) as handle:  # a multipart upload
        handle.write(data)
    assert s3.cat(KEY) == data
    assert _fingerprint() != whole


def test_the_readme_says_so() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "An object uploaded again with the same bytes keeps its ETag and triggers nothing" in (
        readme
    )
    assert "the same bytes uploaded in parts of another size get another ETag" in readme
    assert "its ETag or version id" not in readme
