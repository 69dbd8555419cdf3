"""What an async job keeps secret: the ``headers``, ``cookies`` and ``http_auth`` its capture sends
(credentials, often).

They are taken out of the job's stored parameters when it is submitted and kept encrypted (AES-GCM,
bound to the job's id) until its capture runs; a finished job keeps neither.  The key is
``SNAPSHOT_JOB_SECRET_KEY``, shared by the replicas; without it a replica makes a key of its own, which
only jobs in its own memory can use (with Redis such jobs are refused: another replica could not read
them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PARAMS = ("headers", "cookies", "http_auth")


class Sealer:
    def __init__(self, secret: str | None) -> None:
        key = hashlib.sha256(b"snapshot-job-secrets:" + secret.encode()).digest() if secret else os.urandom(32)
        self.shared = secret is not None  # other replicas can open what this one sealed
        self._aead = AESGCM(key)

    @staticmethod
    def split(
        params: Mapping[str, list[str]], body: Mapping[str, Any] | None
    ) -> tuple[dict[str, list[str]], dict[str, Any] | None, dict[str, Any]]:
        """The parameters and JSON body without the secret ones, and the secret ones apart."""
        secrets: dict[str, Any] = {}
        kept = {name: values for name, values in params.items() if name not in SECRET_PARAMS}
        if any(name in params for name in SECRET_PARAMS):
            secrets["params"] = {name: params[name] for name in SECRET_PARAMS if name in params}
        kept_body = None
        if body is not None:
            kept_body = {name: value for name, value in body.items() if name not in SECRET_PARAMS}
            if any(name in body for name in SECRET_PARAMS):
                secrets["body"] = {name: body[name] for name in SECRET_PARAMS if name in body}
        return kept, kept_body, secrets

    def seal(self, job_id: str, secrets: Mapping[str, Any]) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(secrets).encode(), job_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, job_id: str, sealed: str) -> dict[str, Any]:
        """The secrets; ValueError when they cannot be read (another key, or altered)."""
        raw = base64.b64decode(sealed)
        try:
            opened: dict[str, Any] = json.loads(self._aead.decrypt(raw[:12], raw[12:], job_id.encode()))
        except InvalidTag:
            raise ValueError("the job's secret parameters cannot be read with this replica's key") from None
        return opened
