"""twat-cache engine for S3 and S3-compatible stores: ``s3://bucket/prefix?endpoint_url=...``."""

from twat_cache_s3.backend import S3Backend
from twat_cache_s3.objects import EXPIRY_TAG
from twat_cache_s3.settings import S3Settings

__all__ = ["EXPIRY_TAG", "S3Backend", "S3Settings"]
