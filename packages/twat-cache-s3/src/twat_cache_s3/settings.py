"""From a cache URL to a boto3 S3 client: options, validation, and the client itself.

:class:`S3Settings` is built once, at decoration time: every option is checked
there and nothing touches the network. The engine makes its client from it on
first use (making a client resolves credentials, which may ask the network).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from twat_cache.exceptions import ConfigurationError

if TYPE_CHECKING:
    from twat_cache.urls import EngineURL
    from types_boto3_s3.client import S3Client

__all__ = ["ADDRESSING_STYLES", "AddressingStyle", "S3Settings"]

AddressingStyle = Literal["path", "virtual", "auto"]
ADDRESSING_STYLES: Final = ("path", "virtual", "auto")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,253}[A-Za-z0-9]")
_REGION = re.compile(r"[A-Za-z0-9_\-]{1,64}")


@dataclass(frozen=True)
class S3Settings:
    """Where the cache's objects live and how to reach them, validated, without any connection.

    Attributes:
        bucket: The bucket; it must exist (the engine never creates one).
        prefix: A key prefix of the cache's objects (``a/b``), or ``""``.
        endpoint_url: An S3-compatible endpoint (``http://127.0.0.1:9000``); ``None`` for AWS.
        region: The region; ``None`` for boto3's chain (``AWS_DEFAULT_REGION``, ``~/.aws``...).
        max_workers: Threads that run ``get_many`` and ``set_many`` in parallel.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for a response.
        max_attempts: Tries per request under botocore's standard retry mode
            (exponential backoff on throttling, 5xx and connection errors).
        addressing_style: ``path``, ``virtual`` or ``auto``; ``None`` means ``path``
            with an ``endpoint_url`` (most S3-compatible servers want it), else ``auto``.

    Credentials come from boto3's usual chain (environment, ``~/.aws``, roles), never a URL.

    Raises:
        ConfigurationError: naming the option, the value and what is allowed.

    Example:
        >>> S3Settings("my-bucket", "/cache/", endpoint_url="http://127.0.0.1:9000").prefix
        'cache'
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    max_workers: int = 16
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 3
    addressing_style: AddressingStyle | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not _BUCKET.fullmatch(self.bucket):
            raise ConfigurationError(
                "s3 bucket", self.bucket, "3-255 letters, digits, '.', '-' or '_'"
            )
        object.__setattr__(self, "prefix", self.prefix.strip("/"))
        if self.endpoint_url is not None:
            parts = urlsplit(self.endpoint_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigurationError(
                    "s3 option 'endpoint_url'", self.endpoint_url, "an http:// or https:// URL"
                )
        if self.region is not None and not _REGION.fullmatch(self.region):
            raise ConfigurationError(
                "s3 option 'region'", self.region, "a region name such as us-east-1"
            )
        for name in ("max_workers", "max_attempts"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise ConfigurationError(f"s3 option {name!r}", number, "an integer >= 1")
        for name in ("connect_timeout", "read_timeout"):
            seconds = getattr(self, name)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise ConfigurationError(f"s3 option {name!r}", seconds, "a number of seconds > 0")
            if not 0 < seconds < math.inf:
                raise ConfigurationError(f"s3 option {name!r}", seconds, "a number of seconds > 0")
        if self.addressing_style is not None and self.addressing_style not in ADDRESSING_STYLES:
            raise ConfigurationError(
                "s3 option 'addressing_style'",
                self.addressing_style,
                "one of " + ", ".join(ADDRESSING_STYLES),
            )

    @classmethod
    def from_url(cls, url: EngineURL) -> S3Settings:
        """Read ``s3://BUCKET[/PREFIX][?option=value...]``; reject unknown options.

        Raises:
            ConfigurationError: for no bucket, a port or credentials in the URL, or a
                bad or unknown option.
        """
        if len(url.hosts) != 1 or url.port is not None:
            raise ConfigurationError(
                "s3 url", url.redacted, "one bucket and no port: s3://BUCKET[/PREFIX]"
            )
        if url.username is not None or url.password is not None:
            raise ConfigurationError(
                "s3 url credentials",
                "<hidden>",
                "none in the URL: boto3 finds them (AWS_ACCESS_KEY_ID..., ~/.aws, roles)",
            )
        settings = cls(
            url.hosts[0][0],
            url.path,
            endpoint_url=url.option_str("endpoint_url", None),
            region=url.option_str("region", None),
            max_workers=url.option_int("max_workers", 16, minimum=1),
            connect_timeout=url.option_float("connect_timeout", 5.0, minimum=0.001),
            read_timeout=url.option_float("read_timeout", 30.0, minimum=0.001),
            max_attempts=url.option_int("max_attempts", 3, minimum=1),
            # option_str has checked it is one of ADDRESSING_STYLES
            addressing_style=cast(
                "AddressingStyle | None",
                url.option_str("addressing_style", None, ADDRESSING_STYLES),
            ),
        )
        url.finish()
        return settings

    @property
    def where(self) -> str:
        """The endpoint, for messages: the URL, or ``AWS``."""
        return self.endpoint_url or "AWS"

    def client(self) -> S3Client:
        """Make a client (its own boto3 session: sessions are not thread-safe, clients are)."""
        style = self.addressing_style or ("path" if self.endpoint_url else "auto")
        config = Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            max_pool_connections=max(10, self.max_workers),
            s3={"addressing_style": style},
        )
        session = boto3.session.Session()
        return session.client(
            "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
        )
