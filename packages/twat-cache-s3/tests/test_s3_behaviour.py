"""twat-cache-s3: the behaviour suite on moto's S3 server (from the harness)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from twat_cache.testing import CacheBehaviour

BUCKET = "twat-behaviour"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's dummy credentials, and nothing of the machine's AWS setup."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


class TestS3Behaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, moto_server: Any) -> str:
        client = boto3.client(
            "s3", endpoint_url=moto_server.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        client.create_bucket(Bucket=BUCKET)  # idempotent on moto in us-east-1
        client.close()
        prefix = "b-" + uuid.uuid4().hex[:8]
        return f"s3://{BUCKET}/{prefix}?endpoint_url={moto_server.url}&region=us-east-1"
