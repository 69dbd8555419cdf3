"""Where POST results go: an S3 bucket (boto3), or a local directory the service serves itself.

``put`` blocks (run it in the I/O executor) and returns only once the object is stored, so a POST
that answers success has stored its file.  Failures raise :class:`~service.errors.StorageError`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from service.config import Settings
from service.errors import StorageError


class Storage(Protocol):
    name: str

    def new_key(self, extension: str) -> str: ...

    def key_for(self, name: str) -> str: ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def url_for(self, key: str, request_base_url: str) -> str: ...

    def check(self) -> None: ...


URL_KEY = ".url-key"  # in the directory: the key local file URLs are signed with


def _new_name(extension: str) -> str:
    return f"{uuid.uuid4()}.{extension}"


class LocalStorage:
    """Files in a directory, served by the service at ``/files/<key>?expires=..&signature=..``: like a
    presigned S3 URL, a file URL is valid for ``url_ttl`` seconds (signed with a key kept in the
    directory, so links survive a restart of the service but not the loss of its files)."""

    name = "local"

    def __init__(self, directory: str, public_base_url: str | None, url_ttl: int = 3600) -> None:
        self.directory = Path(directory).resolve()
        self.public_base_url = public_base_url
        self.url_ttl = url_ttl
        self.directory.mkdir(parents=True, exist_ok=True)
        self._url_key = self._key()

    def _key(self) -> bytes:
        path = self.directory / URL_KEY
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
        return path.read_bytes()

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._url_key, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def verify(self, key: str, expires: str, signature: str, now: float | None = None) -> bool:
        """Whether a ``/files/`` URL's ``expires`` and ``signature`` are this service's and still valid."""
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(signature.encode(), self._signature(key, int(expires)).encode())

    def new_key(self, extension: str) -> str:
        return _new_name(extension)

    def key_for(self, name: str) -> str:
        return name

    def get(self, key: str) -> bytes | None:
        try:
            return (self.directory / key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"{key} could not be read: {exc.strerror}") from None

    def delete(self, key: str) -> None:
        (self.directory / key).unlink(missing_ok=True)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / key)  # atomic: a reader never sees half a file
        except OSError as exc:
            raise StorageError(f"the capture could not be stored: {exc.strerror}") from None

    def url_for(self, key: str, request_base_url: str) -> str:
        base = self.public_base_url or request_base_url
        expires = int(time.time() + self.url_ttl)
        query = urlencode({"expires": expires, "signature": self._signature(key, expires)})
        return f"{base.rstrip('/')}/files/{quote(key)}?{query}"

    def check(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise StorageError(f"{self.directory} is not writable")


class S3Storage:
    name = "s3"

    def __init__(self, client: Any, settings: Settings) -> None:
        assert settings.s3_bucket is not None
        self.client = client
        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.template = settings.s3_public_url_template
        self.expires = settings.s3_presign_expires

    def new_key(self, extension: str) -> str:
        return self.prefix + _new_name(extension)

    def key_for(self, name: str) -> str:
        return self.prefix + name

    def get(self, key: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StorageError(f"{key} could not be read from S3: {exc}") from None
        except BotoCoreError as exc:
            raise StorageError(f"{key} could not be read from S3: {exc}") from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{key} could not be deleted from S3: {exc}") from None

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            # a page's HTML is downloaded, never shown as a page of the bucket's origin
            extra = {"ContentDisposition": "attachment"} if content_type.startswith("text/html") else {}
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, **extra)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"the capture could not be stored in S3: {exc}") from None

    def url_for(self, key: str, request_base_url: str) -> str:
        if self.template:
            return self.template.format(bucket=self.bucket, key=quote(key))
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.expires
        )
        return url

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"bucket {self.bucket} is not reachable: {exc}") from None


def make_s3_client(settings: Settings) -> Any:
    config = Config(
        connect_timeout=settings.s3_timeout,
        read_timeout=settings.s3_timeout,
        retries={"mode": "standard", "max_attempts": 3},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if settings.s3_endpoint_url else None,
    )
    return boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region, config=config)


def make_storage(settings: Settings) -> Storage:
    if settings.s3_bucket:
        return S3Storage(make_s3_client(settings), settings)
    return LocalStorage(settings.local_storage_dir, settings.public_base_url, settings.s3_presign_expires)
