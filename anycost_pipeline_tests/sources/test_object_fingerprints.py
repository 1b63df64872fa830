"""What the README says of export files in S3, held against what the listing gives the sensor:
the fingerprint is the ETag and size, so the same bytes uploaded again are no change (even in a
versioned bucket: the listing carries no version id), other bytes are, and the same bytes
uploaded in parts get another ETag. moto's S3 server on 127.0.0.1."""

import pytest
from s3fs import S3FileSystem

from anycost_pipeline.sources.files import file_infos, fingerprint
from anycost_pipeline_tests.conftest import REPO

BUCKET = "vendor-exports"
KEY = f"{BUCKET}/usage.csv"


@pytest.fixture
def bucket(s3: S3FileSystem) -> S3FileSystem:
    """The shared S3 server with a versioned bucket."""
    s3.mkdir(BUCKET)
    s3.call_s3(
        "put_bucket_versioning", Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"}
    )
    return s3


def _fingerprint() -> str:
    (info,) = file_infos(f"s3://{BUCKET}/*.csv")
    return fingerprint(info)


def test_the_same_bytes_uploaded_again_are_no_change_other_bytes_are(bucket: S3FileSystem) -> None:
    data = b"date,cost\n2024-08-01,1.00\n"
    bucket.pipe(KEY, data)
    first = _fingerprint()
    bucket.pipe(KEY, data)  # a new version of the object, the same bytes
    versions = bucket.call_s3("list_object_versions", Bucket=BUCKET)["Versions"]
    assert len(versions) == 2
    assert _fingerprint() == first
    assert "VersionId" not in next(iter(bucket.glob(f"{BUCKET}/*.csv", detail=True).values()))
    bucket.pipe(KEY, data.replace(b"1.00", b"2.00"))  # same size, other bytes
    assert _fingerprint() != first


def test_the_same_bytes_uploaded_in_parts_get_another_etag(bucket: S3FileSystem) -> None:
    data = b"date,cost\n" + b"2024-08-01,1.00\n" * 700_000  # about 11 MB: three 5 MiB parts
    bucket.call_s3("put_object", Bucket=BUCKET, Key="usage.csv", Body=data)
    whole = _fingerprint()
    with bucket.open(KEY, "wb", block_size=5 * 2**20) as handle:  # a multipart upload
        handle.write(data)
    assert bucket.cat(KEY) == data
    assert _fingerprint() != whole


def test_the_readme_says_so() -> None:
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "An object uploaded again with the same bytes keeps its ETag and triggers nothing" in (
        readme
    )
    assert "the same bytes uploaded in parts of another size get another ETag" in readme
    assert "its ETag or version id" not in readme
