"""Whether `storage` (the frames) and `state` can be written, without creating anything.

A bucket is never created: a misspelt bucket in `storage` would otherwise become a new bucket at
the first write, and the frames would go there unnoticed. No Dagster.
"""

import tempfile
import uuid
from pathlib import Path

from anycost_pipeline.config import AnycostConfig, is_url

# How to create a bucket (or container) with each store's own command-line tool.
_CREATE = {
    "s3": "aws s3 mb s3://{bucket}",
    "s3a": "aws s3 mb s3://{bucket}",
    "gs": "gcloud storage buckets create gs://{bucket}",
    "gcs": "gcloud storage buckets create gs://{bucket}",
    "az": "az storage container create --name {bucket}",
    "abfs": "az storage container create --name {bucket}",
    "abfss": "az storage container create --name {bucket}",
}


def bucket_of(url: str) -> tuple[str, str]:
    """The protocol and the bucket (or container) of an object-store URL."""
    protocol, rest = url.split("://", 1)
    return protocol, rest.split("/", 1)[0].split("@", 1)[0]


def missing_bucket(url: str) -> str | None:
    """The bucket of `url` if the store says it does not exist; None if it exists. For S3 an
    error reaching the store or a refused key is raised, not taken for a missing bucket (s3fs's
    `exists` answers False to both)."""
    import fsspec

    protocol, bucket = bucket_of(url)
    fs, _ = fsspec.core.url_to_fs(url)
    fs.invalidate_cache()
    if protocol in ("s3", "s3a"):
        try:
            fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:  # 404: no such bucket
            return bucket
        return None
    return None if fs.exists(bucket) else bucket


def missing_bucket_message(url: str, bucket: str, key: str = "storage") -> str:
    """What to say of a bucket that does not exist: that nothing creates it, and how to."""
    protocol, _ = bucket_of(url)
    create = _CREATE.get(protocol, "your store's console or tool").format(bucket=bucket)
    return (
        f"{key}: the bucket {bucket!r} of {url!r} does not exist. The adaptor does not create "
        f"buckets (a misspelt name would become a new bucket): create it ({create}) or correct "
        f"`{key}` in anycost.yaml"
    )


def storage_report(config: AnycostConfig) -> tuple[list[str], list[str]]:
    """Lines that say where frames and state go, and the problems found: a bucket that does
    not exist, a location that cannot be written. Writes one empty probe object (removed at
    once) in a bucket; creates no folder and no bucket."""
    lines: list[str] = []
    problems: list[str] = []
    frames = config.frames_location
    if is_url(config.storage):
        said, problem = _object_store(config.storage, frames)
    else:
        said, problem = _folder(Path(frames), "storage")
    lines.append(f"frames: {frames} ({said})" if said else f"frames: {frames}")
    problems += [problem] if problem else []
    if is_url(config.storage) or config.state is not None:
        said, problem = _folder(config.storage_path, "state" if config.state else "storage")
        lines.append(f"state: {config.storage_path} ({said})" if said else "")
        problems += [problem] if problem else []
    return [line for line in lines if line], problems


def _object_store(url: str, frames: str) -> tuple[str, str | None]:
    import fsspec

    try:
        bucket = missing_bucket(url)
    except Exception as error:  # noqa: BLE001 - credentials, endpoint, network: say which
        return "", (
            f"storage: cannot reach {url!r} ({type(error).__name__}: {error}); check the store's "
            "credentials and endpoint (for S3: AWS_ACCESS_KEY_ID, AWS_PROFILE, AWS_ENDPOINT_URL)"
        )
    if bucket is not None:
        return "", missing_bucket_message(url, bucket)
    probe = f"{frames.rstrip('/')}/.anycost-validate-{uuid.uuid4().hex}"
    try:
        fs, path = fsspec.core.url_to_fs(probe)
        fs.pipe(path, b"")
        fs.rm(path)
    except Exception as error:  # noqa: BLE001 - a refused write, whatever the store calls it
        return "", (
            f"storage: cannot write under {frames!r} ({type(error).__name__}: {error}); the "
            "credentials need permission to write, read and delete objects there"
        )
    return "the bucket exists and can be written", None


def _folder(folder: Path, key: str) -> tuple[str, str | None]:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return "", f"{key}: {existing} is a file, where the folder {folder} should be"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        return "", (
            f"{key}: cannot write in {existing} ({error.strerror or error}); the user running "
            f"the adaptor needs to write there (on Kubernetes: the volume's fsGroup)"
        )
    return ("can be written" if existing == folder else "created at the first run"), None
