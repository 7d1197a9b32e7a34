# ruff: noqa: E501
# (the examples are kept exactly as the original documented them)
"""The documented examples of twat-cache 2.x, copied verbatim as test fixtures.

Source: the repository twardoch/twat-cache at commit 961e6ffaa1a01a6353b4a18f4014e70f3372769d
(the 2.x line; 2.7.5 is its last release on the package index): every ```python block of
README.md, docs/context_management.md and src_docs/**/*.md, in page order (trailing spaces
dropped). Each entry names its file, the section heading above it and its position on the
page. tests/test_2x_examples.py runs them against this project. Extracted once; not
regenerated.
"""

from __future__ import annotations

from typing import NamedTuple


class Example(NamedTuple):
    """One documented example: where it is, and its code."""

    source: str  # file in twardoch/twat-cache
    section: str  # the heading above the example
    number: int  # its position among the page's python blocks, from 1
    code: str

    @property
    def id(self) -> str:
        """``file#number``, the name tests and docs/migration.md use."""
        return f"{self.source}#{self.number}"


EXAMPLES: tuple[Example, ...] = (
    Example(
        "README.md",
        "1. In-Memory Caching (`mcache`)",
        1,
        """\
from twat_cache import mcache
import time

@mcache(maxsize=128, ttl=60) # Cache up to 128 items, expire after 60 seconds
def get_user_details(user_id: int) -> dict:
    print(f"Fetching details for user {user_id}...")
    time.sleep(1) # Simulate expensive operation
    return {"id": user_id, "name": f"User {user_id}", "email": f"user{user_id}@example.com"}

# First call: fetches and caches
user1 = get_user_details(1)
print(user1)

# Second call: result comes from cache
user1_cached = get_user_details(1)
print(user1_cached)

# After 60 seconds, or if maxsize is exceeded, the cache entry might be evicted.
""",
    ),
    Example(
        "README.md",
        "2. Disk-Based Caching (`bcache`)",
        2,
        """\
from twat_cache import bcache
import time

@bcache(folder_name="user_data_cache", ttl=3600) # Cache in '.cache/twat_cache/user_data_cache', expire after 1 hour
def get_report_data(report_id: str) -> list:
    print(f"Generating report {report_id}...")
    time.sleep(2) # Simulate expensive report generation
    return [{"report": report_id, "data_point": i} for i in range(5)]

# First call: generates and caches to disk
report_A = get_report_data("A")
print(report_A)

# Second call (even after script restart): result comes from disk cache
report_A_cached = get_report_data("A")
print(report_A_cached)
""",
    ),
    Example(
        "README.md",
        "3. File-Based Caching for Large Objects (`fcache`)",
        3,
        """\
from twat_cache import fcache
import numpy as np
import time

@fcache(folder_name="array_processing_cache", compress=True) # Compress cached files
def process_large_array(size: int) -> np.ndarray:
    print(f"Processing large array of size {size}x{size}...")
    time.sleep(3) # Simulate heavy computation
    return np.random.rand(size, size)

# First call: computes and caches the array to a file
array_data = process_large_array(1000)
print(array_data.shape)

# Second call: loads the array from the cached file
array_data_cached = process_large_array(1000)
print(array_data_cached.shape)
""",
    ),
    Example(
        "README.md",
        "4. Asynchronous Caching (`acache`)",
        4,
        """\
from twat_cache import acache
import asyncio
import time

@acache(ttl=300) # Cache async results for 5 minutes
async def fetch_external_data(url: str) -> dict:
    print(f"Fetching data from {url}...")
    await asyncio.sleep(1) # Simulate async HTTP request
    return {"url": url, "content": f"Data from {url}"}

async def main():
    # First call: fetches and caches
    data1 = await fetch_external_data("https://api.example.com/data")
    print(data1)

    # Second call: result comes from cache
    data1_cached = await fetch_external_data("https://api.example.com/data")
    print(data1_cached)

if __name__ == "__main__":
    asyncio.run(main())
""",
    ),
    Example(
        "README.md",
        "5. Universal Caching (`ucache`)",
        5,
        """\
from twat_cache import ucache
import time

@ucache(ttl=1800, compress=True) # Universal cache, expire after 30 mins, try compression
def complex_calculation(a: int, b: float, c: str) -> str:
    print(f"Performing complex calculation with {a}, {b}, {c}...")
    time.sleep(1.5)
    return f"Result: {a * b} - {c.upper()}"

# twat-cache will choose an appropriate engine (e.g., DiskCacheEngine if available and suitable)
res1 = complex_calculation(10, 2.5, "hello")
print(res1)

res1_cached = complex_calculation(10, 2.5, "hello")
print(res1_cached)
""",
    ),
    Example(
        "README.md",
        "6. Using Cache Context (`CacheContext`)",
        6,
        """\
from twat_cache import CacheContext
import time # Ensure time is imported for the example

def process_user_session(user_id: str, data: dict):
    # Use a specific disk cache for this operation
    with CacheContext(engine_name="diskcache", folder_name="session_cache", ttl=600) as cache:
        # 'cache' is the cache engine instance, allowing direct get/set.
        # For DiskCacheEngine, this would be a diskcache.Cache object.
        cache_key = f"session_data_{user_id}"

        cached_data = cache.get(cache_key)
        if cached_data:
            print(f"Using cached session data for {user_id}")
            return cached_data

        print(f"Processing and caching session data for {user_id}")
        # Simulate processing
        processed_data = {**data, "processed_at": time.time()}
        cache.set(cache_key, processed_data)
        return processed_data

user_data = {"preferences": "dark_mode"}
session_info = process_user_session("user123", user_data)
print(session_info)

session_info_cached = process_user_session("user123", user_data) # Should hit cache
print(session_info_cached)
""",
    ),
    Example(
        "docs/context_management.md",
        "`engine_context`",
        1,
        """\
from twat_cache.context import engine_context

# Basic usage
with engine_context() as cache:
    # Use the cache engine
    cache.set("key", "value")
    value = cache.get("key")

# With specific configuration
with engine_context(maxsize=100, folder_name="my_cache") as cache:
    # Use the cache engine with custom configuration
    cache.set("key", "value")

# With specific engine
with engine_context(engine_name="redis") as cache:
    # Use the Redis cache engine
    cache.set("key", "value")
""",
    ),
    Example(
        "docs/context_management.md",
        "`CacheContext` Class",
        2,
        """\
from twat_cache.context import CacheContext
from twat_cache.config import create_cache_config

# Create a context with default settings
context = CacheContext()
with context as cache:
    # Use the cache engine
    cache.set("key", "value")

# Create a context with specific configuration
config = create_cache_config(maxsize=100, folder_name="my_cache")
context = CacheContext(config=config)
with context as cache:
    # Use the cache engine with custom configuration
    cache.set("key", "value")

# Create a context with a specific engine
redis_context = CacheContext(engine_name="redis")
with redis_context as cache:
    # Use the Redis cache engine
    cache.set("key", "value")
""",
    ),
    Example(
        "docs/context_management.md",
        "Manual Engine Creation",
        3,
        """\
from twat_cache.context import get_or_create_engine

# Create an engine
engine = get_or_create_engine(maxsize=100, folder_name="my_cache")

try:
    # Use the engine
    engine.set("key", "value")
    value = engine.get("key")
finally:
    # Important: You must manually clean up the engine
    engine.cleanup()
""",
    ),
    Example(
        "docs/context_management.md",
        "Temporary Cache Configuration",
        4,
        """\
from twat_cache.context import engine_context
from twat_cache.decorators import ucache

# Default cache configuration
@ucache()
def slow_function(x):
    # ... expensive computation ...
    return result

# Override cache configuration for a specific section
with engine_context(maxsize=1000, ttl=3600) as cache:
    # Use the cache directly
    key = f"special_key_{x}"
    result = cache.get(key)
    if result is None:
        result = compute_expensive_result(x)
        cache.set(key, result)
""",
    ),
    Example(
        "docs/context_management.md",
        "Using Different Cache Backends",
        5,
        """\
from twat_cache.context import engine_context

# Process small data with in-memory cache
with engine_context(engine_name="cachetools") as memory_cache:
    for item in small_data:
        process_with_cache(item, memory_cache)

# Process large data with disk cache
with engine_context(engine_name="diskcache") as disk_cache:
    for item in large_data:
        process_with_cache(item, disk_cache)
""",
    ),
    Example(
        "docs/context_management.md",
        "Redis Cache for Distributed Applications",
        6,
        """\
from twat_cache.context import engine_context

# Use Redis for distributed caching
with engine_context(
    engine_name="redis",
    redis_host="redis.example.com",
    redis_port=6379,
    redis_password="secret",
    ttl=3600,
) as redis_cache:
    # Cache is now shared across all application instances
    result = redis_cache.get("shared_key")
    if result is None:
        result = compute_expensive_result()
        redis_cache.set("shared_key", result)
""",
    ),
    Example(
        "docs/context_management.md",
        "Custom Engine Selection Logic",
        7,
        """\
from twat_cache.context import engine_context
from twat_cache.engines.manager import get_engine_manager

# Get available engines
manager = get_engine_manager()
available_engines = manager.get_available_engines()

# Choose an engine based on custom logic
if "redis" in available_engines and is_distributed_environment():
    engine_name = "redis"
elif "diskcache" in available_engines and data_size > 1_000_000:
    engine_name = "diskcache"
else:
    engine_name = "cachetools"

# Use the selected engine
with engine_context(engine_name=engine_name) as cache:
    # Use the cache
    cache.set("key", "value")
""",
    ),
    Example(
        "docs/context_management.md",
        "Combining with Decorators",
        8,
        '''\
from twat_cache.context import engine_context
from twat_cache.decorators import ucache
from functools import wraps

def with_custom_cache(func):
    """Decorator that uses a custom cache configuration."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        with engine_context(maxsize=1000, ttl=3600) as cache:
            # Create a cache key
            key = f"{func.__name__}:{args}:{kwargs}"

            # Check cache
            result = cache.get(key)
            if result is not None:
                return result

            # Call function and cache result
            result = func(*args, **kwargs)
            cache.set(key, result)
            return result
    return wrapper

# Use the custom cache decorator
@with_custom_cache
def expensive_function(x, y):
    # ... expensive computation ...
    return result
''',
    ),
    Example(
        "docs/context_management.md",
        "Error Handling",
        9,
        """\
from twat_cache.context import engine_context
from twat_cache.exceptions import CacheOperationError

try:
    with engine_context() as cache:
        # This might raise an exception
        cache.set("key", complex_object)
        result = cache.get("key")
except CacheOperationError as e:
    # Handle cache-specific errors
    print(f"Cache operation failed: {e}")
except Exception as e:
    # Handle other errors
    print(f"An error occurred: {e}")
finally:
    # The cache engine will be cleaned up automatically
    # No need to call cache.cleanup() here
    print("Cache resources have been cleaned up")
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Main Decorators",
        1,
        """\
from twat_cache import ucache, mcache, bcache, fcache, acache

# Universal cache (recommended)
@ucache(maxsize=100, ttl=300)
def my_function(x): ...

# Memory cache
@mcache(maxsize=50, policy="lfu")
def memory_function(x): ...

# Disk cache
@bcache(folder_name="cache", ttl=3600)
def disk_function(x): ...

# File cache
@fcache(compress=True)
def file_function(x): ...

# Async cache
@acache(ttl=60)
async def async_function(x): ...
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Configuration",
        2,
        """\
from twat_cache import CacheConfig, create_cache_config

# Create configuration
config = create_cache_config(
    maxsize=1000,
    ttl=3600,
    policy="lru"
)

# Use with decorator
@ucache(config=config)
def configured_function(x): ...
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Context Management",
        3,
        """\
from twat_cache import CacheContext

# Temporary configuration
with CacheContext(maxsize=50, ttl=60):
    result = cached_function()
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Cache Management",
        4,
        """\
from twat_cache import list_caches, clear_all_caches

# List all active caches
caches = list_caches()

# Clear all caches
clear_all_caches()
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Version Information",
        5,
        """\
import twat_cache

# Get version
print(twat_cache.__version__)

# Check available engines
from twat_cache.engines.manager import CacheEngineManager
print(CacheEngineManager.list_engines())
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Basic Import",
        6,
        """\
# Most common imports
from twat_cache import ucache, mcache, bcache, fcache, acache
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Advanced Import",
        7,
        """\
# Configuration
from twat_cache import CacheConfig, create_cache_config

# Context management
from twat_cache import CacheContext, engine_context

# Cache management
from twat_cache import list_caches, clear_all_caches, get_all_stats

# Exceptions
from twat_cache.exceptions import CacheError, ConfigError
""",
    ),
    Example(
        "src_docs/api/index.md",
        "Engine-Specific Import",
        8,
        """\
# Direct engine access (advanced usage)
from twat_cache.engines.manager import CacheEngineManager
from twat_cache.engines.base import BaseCacheEngine

# Create engine directly
engine = CacheEngineManager.create_engine("memory", config)
""",
    ),
    Example(
        "src_docs/faq.md",
        "ImportError: No module named 'twat_cache'",
        1,
        """\
import twat_cache  # Note the underscore!
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I cache a function?",
        2,
        """\
from twat_cache import ucache

@ucache
def expensive_function(x: int) -> int:
    return x ** 2
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I set cache expiration?",
        3,
        """\
@ucache(ttl=3600)  # Cache for 1 hour
def get_user_data(user_id: int) -> dict:
    return fetch_from_database(user_id)
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I limit cache size?",
        4,
        """\
@ucache(maxsize=100)  # Keep only 100 items
def process_data(item_id: str) -> Result:
    return heavy_computation(item_id)
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I cache async functions?",
        5,
        """\
from twat_cache import acache

@acache
async def fetch_api_data(url: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return await response.json()
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I clear the cache?",
        6,
        """\
@ucache
def my_function(x: int) -> int:
    return x * 2

# Clear entire cache
my_function.cache_clear()

# Remove specific entry
my_function.cache_delete(5)

# Get cache info
info = my_function.cache_info()
""",
    ),
    Example(
        "src_docs/faq.md",
        "Can I use different caches for different functions?",
        7,
        """\
@ucache(cache_engine="memory")  # In-memory only
def fast_function(x): ...

@ucache(cache_engine="disk")    # Persistent disk cache
def persistent_function(x): ...

@fcache  # Optimized for large objects
def process_dataframe(df): ...
""",
    ),
    Example(
        "src_docs/faq.md",
        "How much memory will caching use?",
        8,
        """\
@ucache(maxsize=1000)
def my_function(x): ...

# Check cache statistics
stats = my_function.cache_info()
print(f"Cache size: {stats.currsize}")
print(f"Hit rate: {stats.hits / (stats.hits + stats.misses):.2%}")
""",
    ),
    Example(
        "src_docs/faq.md",
        "Can I use custom serialization?",
        9,
        """\
from twat_cache import CacheConfig, ucache

config = CacheConfig(
    serializer="pickle",  # or "json", "msgpack"
    compression=True
)

@ucache(config=config)
def my_function(x): ...
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I implement a custom cache engine?",
        10,
        """\
from twat_cache.engines.base import CacheEngineProtocol

class MyCustomEngine:
    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: Any, ttl: Optional[int] = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def clear(self) -> None: ...
    def exists(self, key: str) -> bool: ...
""",
    ),
    Example(
        "src_docs/faq.md",
        "Can I use TWAT-Cache with Django/Flask/FastAPI?",
        11,
        """\
# FastAPI example
from fastapi import FastAPI
from twat_cache import acache

app = FastAPI()

@app.get("/users/{user_id}")
@acache(ttl=60)
async def get_user(user_id: int):
    return await fetch_user_from_db(user_id)
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I handle cache errors?",
        12,
        """\
from twat_cache import ucache
from twat_cache.exceptions import CacheError

@ucache(fallback=True)  # Continue on cache errors
def my_function(x):
    return expensive_computation(x)

# Or handle explicitly
try:
    result = my_function(5)
except CacheError as e:
    logger.error(f"Cache error: {e}")
    result = expensive_computation(5)
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I debug cache behavior?",
        13,
        """\
import os
os.environ["TWAT_CACHE_DEBUG"] = "1"

# Or programmatically
from twat_cache.logging import logger
logger.enable("DEBUG")
""",
    ),
    Example(
        "src_docs/faq.md",
        "How do I profile cache performance?",
        14,
        """\
@ucache
def my_function(x): ...

# After some usage
stats = my_function.cache_info()
print(f"Hits: {stats.hits}")
print(f"Misses: {stats.misses}")
print(f"Hit rate: {stats.hits / (stats.hits + stats.misses):.2%}")
print(f"Size: {stats.currsize}/{stats.maxsize}")
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Verify Installation",
        1,
        """\
import twat_cache
print(twat_cache.__version__)
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Step 1: Import the Decorator",
        2,
        """\
from twat_cache import ucache
import time
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Step 2: Create a Slow Function",
        3,
        '''\
def slow_fibonacci(n: int) -> int:
    """Calculate Fibonacci number (slow recursive version)."""
    if n <= 1:
        return n
    return slow_fibonacci(n - 1) + slow_fibonacci(n - 2)

# Time the slow version
start = time.time()
result = slow_fibonacci(35)
print(f"Result: {result}")
print(f"Time: {time.time() - start:.2f} seconds")
# Output: Time: ~5-10 seconds
''',
    ),
    Example(
        "src_docs/getting-started.md",
        "Step 3: Add Caching",
        4,
        '''\
@ucache  # Just add this decorator!
def fast_fibonacci(n: int) -> int:
    """Calculate Fibonacci number (cached version)."""
    if n <= 1:
        return n
    return fast_fibonacci(n - 1) + fast_fibonacci(n - 2)

# Time the cached version
start = time.time()
result = fast_fibonacci(35)
print(f"Result: {result}")
print(f"Time: {time.time() - start:.2f} seconds")
# Output: Time: ~0.01 seconds - 1000x faster!
''',
    ),
    Example(
        "src_docs/getting-started.md",
        "Setting Cache Size",
        5,
        """\
@ucache(maxsize=100)  # Keep only 100 most recent results
def process_data(data_id: str) -> dict:
    # Expensive processing...
    return processed_data
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Setting Time-to-Live (TTL)",
        6,
        """\
@ucache(ttl=300)  # Cache for 5 minutes (300 seconds)
def fetch_weather(city: str) -> dict:
    # API call to weather service...
    return weather_data
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Combining Options",
        7,
        """\
@ucache(maxsize=50, ttl=3600)  # 50 items, 1 hour TTL
def analyze_report(report_id: int, options: dict) -> dict:
    # Complex analysis...
    return results
""",
    ),
    Example(
        "src_docs/getting-started.md",
        "Async Functions",
        8,
        """\
from twat_cache import acache
import asyncio
import aiohttp

@acache(ttl=60)  # Cache for 1 minute
async def fetch_user_data(user_id: int) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://api.example.com/users/{user_id}") as response:
            return await response.json()

# Use it
async def main():
    # First call hits the API
    user = await fetch_user_data(123)

    # Second call returns from cache instantly
    user_again = await fetch_user_data(123)

asyncio.run(main())
""",
    ),
    Example(
        "src_docs/index.md",
        "🎯 Quick Start",
        1,
        '''\
from twat_cache import ucache

@ucache  # That's it! Your function is now cached
def expensive_computation(x: int, y: int) -> int:
    """This result will be cached automatically."""
    return x ** y + sum(range(x * y))

# First call computes and caches
result = expensive_computation(5, 3)  # Takes time

# Subsequent calls are instant!
result = expensive_computation(5, 3)  # Returns immediately from cache
''',
    ),
    Example(
        "src_docs/index.md",
        "Async Functions? No Problem!",
        2,
        '''\
from twat_cache import acache
import asyncio

@acache
async def fetch_data(url: str) -> dict:
    """Async functions are cached just as easily."""
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            return await response.json()

# Use it naturally
data = await fetch_data("https://api.example.com/data")
''',
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Simple Size and TTL",
        1,
        """\
from twat_cache import ucache

# Cache 100 items for 5 minutes
@ucache(maxsize=100, ttl=300)
def fetch_data(key):
    return expensive_lookup(key)
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Persistent Storage",
        2,
        """\
from twat_cache import bcache

# Persistent cache with custom folder
@bcache(folder_name="my_app_cache", maxsize=1000)
def process_report(report_id):
    return generate_report(report_id)
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "High-Performance Memory Cache",
        3,
        """\
from twat_cache import mcache

# LFU eviction for frequently accessed data
@mcache(maxsize=500, policy="lfu", ttl=3600)
def get_user_preferences(user_id):
    return load_preferences(user_id)
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`maxsize` (int | None)",
        4,
        """\
# Limited cache
@ucache(maxsize=100)
def limited_cache(x): ...

# Unlimited cache (careful!)
@ucache(maxsize=None)
def unlimited_cache(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`ttl` (float | None)",
        5,
        """\
# 5-minute TTL
@ucache(ttl=300)
def api_cache(endpoint): ...

# 24-hour TTL
@ucache(ttl=86400)
def daily_cache(date): ...

# No expiration
@ucache(ttl=None)
def permanent_cache(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`policy` (str)",
        6,
        """\
# LRU for general use
@ucache(maxsize=100, policy="lru")
def general_cache(x): ...

# LFU for hot data
@ucache(maxsize=100, policy="lfu")
def popular_items(item_id): ...

# FIFO for time-series
@ucache(maxsize=100, policy="fifo")
def time_series_data(timestamp): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`folder_name` (str | None)",
        7,
        """\
# Custom folder
@bcache(folder_name="reports")
def generate_report(id): ...

# Auto-generated folder
@bcache()  # Uses function name
def process_data(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`compress` (bool)",
        8,
        """\
# Compress large objects
@fcache(compress=True)
def load_dataset(name):
    return pandas.read_csv(f"{name}.csv")
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`use_sql` (bool)",
        9,
        """\
# SQL storage (default)
@bcache(use_sql=True)
def with_sql(x): ...

# File storage (legacy)
@bcache(use_sql=False)
def without_sql(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`preferred_engine` (str | None)",
        10,
        """\
# Force disk storage
@ucache(preferred_engine="disk")
def persistent_func(x): ...

# Prefer CacheBox if available
@ucache(preferred_engine="cachebox")
def fast_func(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "`secure` (bool)",
        11,
        """\
# Secure mode (default)
@ucache(secure=True)
def handles_any_type(obj): ...

# Fast mode
@ucache(secure=False)
def simple_types_only(x: int, y: str): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Using in Python",
        12,
        """\
import os
from twat_cache import ucache

# Set environment variables
os.environ["TWAT_CACHE_MAXSIZE"] = "500"
os.environ["TWAT_CACHE_TTL"] = "300"

# These will use environment settings
@ucache
def func1(x): ...

# Override environment with decorator
@ucache(maxsize=100)  # Overrides env
def func2(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Configuration Objects",
        13,
        """\
from twat_cache import CacheConfig, ucache

# Create reusable configuration
config = CacheConfig(
    maxsize=1000,
    ttl=3600,
    policy="lfu",
    folder_name="shared_cache",
    compress=True
)

# Apply to multiple functions
@ucache(config=config)
def func1(x): ...

@ucache(config=config)
def func2(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Configuration Inheritance",
        14,
        """\
# Base configuration
base_config = CacheConfig(maxsize=100, ttl=300)

# Extended configuration
api_config = base_config.model_copy(update={"ttl": 60})
db_config = base_config.model_copy(update={"maxsize": 1000})

@ucache(config=api_config)
def api_call(endpoint): ...

@ucache(config=db_config)
def db_query(sql): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Context-Based Configuration",
        15,
        """\
from twat_cache import CacheContext, ucache

# Temporary configuration
with CacheContext(maxsize=50, ttl=60):
    @ucache
    def temp_func(x):
        return x ** 2

    # Uses context configuration
    result = temp_func(5)

# Outside context, uses defaults
result2 = temp_func(5)
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Nested Contexts",
        16,
        """\
# Global context
with CacheContext(engine="memory", maxsize=100):
    # Function uses memory engine

    with CacheContext(ttl=30):
        # Inherits memory engine, adds TTL
        result = cached_function()
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Memory Cache (CacheTools/CacheBox)",
        17,
        """\
@mcache(
    maxsize=100,
    policy="lru",  # LRU, LFU, FIFO, LIFO, MRU
    ttl=300
)
def memory_cached(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Disk Cache (DiskCache)",
        18,
        """\
@bcache(
    folder_name="disk_cache",
    maxsize=10000,  # Items
    size_limit=1e9,  # 1GB total size
    ttl=86400,       # 24 hours
    use_sql=True     # SQLite backend
)
def disk_cached(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "File Cache (Joblib)",
        19,
        """\
@fcache(
    folder_name="arrays",
    compress=True,        # Compression level 1-9
    mmap_mode="r",       # Memory mapping for large files
    cache_validation=True # Validate cache integrity
)
def file_cached(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Async Cache (AioCache)",
        20,
        """\
@acache(
    maxsize=100,
    ttl=60,
    namespace="api",  # Cache namespace
    key_builder=custom_key_func  # Custom key generation
)
async def async_cached(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Per-Environment Configuration",
        21,
        """\
import os
from twat_cache import ucache

# Development
if os.getenv("ENV") == "development":
    cache_config = {"maxsize": 10, "ttl": 60}
# Production
else:
    cache_config = {"maxsize": 1000, "ttl": 3600}

@ucache(**cache_config)
def environment_aware(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Feature Flags",
        22,
        """\
ENABLE_CACHE = os.getenv("ENABLE_CACHE", "true").lower() == "true"
CACHE_TTL = int(os.getenv("CACHE_TTL", "300"))

if ENABLE_CACHE:
    from twat_cache import ucache
    cache_decorator = ucache(ttl=CACHE_TTL)
else:
    # No-op decorator
    cache_decorator = lambda f: f

@cache_decorator
def conditional_cache(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Dynamic Configuration",
        23,
        """\
from twat_cache import ucache
from functools import partial

# Configuration factory
def make_cache(cache_type="memory", **kwargs):
    defaults = {
        "memory": {"maxsize": 100, "ttl": 300},
        "disk": {"maxsize": 1000, "ttl": 3600},
        "api": {"maxsize": 50, "ttl": 60}
    }

    config = defaults.get(cache_type, {})
    config.update(kwargs)
    return partial(ucache, **config)

# Use dynamic configuration
api_cache = make_cache("api")
disk_cache = make_cache("disk", folder_name="persistent")

@api_cache()
def api_function(x): ...

@disk_cache()
def disk_function(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Memory Optimization",
        24,
        """\
# Small, hot cache
@mcache(maxsize=50, policy="lfu")
def hot_path(x): ...

# Large, cooler cache
@bcache(maxsize=10000, policy="lru")
def cold_path(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "TTL Strategies",
        25,
        """\
# Short TTL for real-time data
@ucache(ttl=5)  # 5 seconds
def live_price(symbol): ...

# Medium TTL for user data
@ucache(ttl=300)  # 5 minutes
def user_profile(user_id): ...

# Long TTL for reference data
@ucache(ttl=86400)  # 24 hours
def country_list(): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Eviction Policies",
        26,
        """\
# LRU: General purpose
@ucache(policy="lru")
def general(x): ...

# LFU: Popular items
@ucache(policy="lfu")
def trending(x): ...

# FIFO: Time-ordered
@ucache(policy="fifo")
def queue_like(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Cache Statistics",
        27,
        """\
@ucache(maxsize=100)
def monitored_func(x):
    return x ** 2

# Check configuration
info = monitored_func.cache_info()
print(f"Max size: {info.maxsize}")
print(f"Current size: {info.currsize}")
print(f"Hit rate: {info.hits / (info.hits + info.misses):.2%}")
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Debug Logging",
        28,
        """\
import os
import logging

# Enable debug mode
os.environ["TWAT_CACHE_DEBUG"] = "1"
logging.basicConfig(level=logging.DEBUG)

# Now all cache operations are logged
@ucache
def debug_func(x):
    return x ** 2
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "1. Start Simple",
        29,
        """\
# Start with defaults
@ucache
def my_func(x): ...

# Add configuration as needed
@ucache(maxsize=100, ttl=300)
def my_func(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "2. Monitor and Adjust",
        30,
        """\
# Regular monitoring
def check_cache_health(func):
    info = func.cache_info()
    if info.hits + info.misses > 1000:
        hit_rate = info.hits / (info.hits + info.misses)
        if hit_rate < 0.8:
            logger.warning(f"Low hit rate: {hit_rate:.2%}")
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "3. Environment-Based Defaults",
        31,
        """\
# .env file
TWAT_CACHE_MAXSIZE=1000
TWAT_CACHE_TTL=3600
TWAT_CACHE_POLICY=lru

# Python code uses env defaults
@ucache  # Uses environment settings
def uses_defaults(x): ...
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "4. Validate Configuration",
        32,
        """\
from twat_cache import CacheConfig

try:
    config = CacheConfig(
        maxsize=-1,  # Invalid!
        ttl="invalid"  # Type error!
    )
except ValueError as e:
    print(f"Invalid config: {e}")
""",
    ),
    Example(
        "src_docs/user-guide/configuration.md",
        "Debug Configuration",
        33,
        """\
from twat_cache import ucache
from twat_cache.config import get_cache_config_from_env

# Check environment config
env_config = get_cache_config_from_env()
print(f"Environment config: {env_config}")

# Check effective config
@ucache(maxsize=100)
def my_func(x): ...

print(f"Effective maxsize: {my_func.cache_info().maxsize}")
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Basic Usage",
        1,
        """\
from twat_cache import ucache

@ucache
def compute(x, y):
    return x ** y
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Full Parameters",
        2,
        """\
@ucache(
    folder_name="my_cache",      # Cache folder (for disk backends)
    maxsize=100,                 # Maximum cached items
    ttl=3600,                    # Time-to-live in seconds
    policy="lru",                # Eviction policy
    preferred_engine="disk",     # Preferred backend
    use_sql=False,               # Use SQL storage (disk)
    compress=False,              # Compress cached values
    secure=True                  # Secure key generation
)
def my_function(x):
    return expensive_computation(x)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Smart Backend Selection",
        3,
        """\
# Automatically uses async backend
@ucache
async def fetch_data(url):
    async with aiohttp.ClientSession() as session:
        return await session.get(url)

# Force specific backend
@ucache(preferred_engine="disk")
def persistent_compute(x):
    return complex_calculation(x)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Basic Usage",
        4,
        """\
from twat_cache import mcache

@mcache
def quick_lookup(key):
    return database.get(key)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Full Parameters",
        5,
        """\
@mcache(
    maxsize=128,      # LRU cache size
    ttl=300,          # 5-minute expiration
    policy="lru",     # Eviction policy
    secure=True       # Secure mode
)
def cached_function(x):
    return computation(x)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Use Cases",
        6,
        """\
# API response caching with TTL
@mcache(ttl=60)
def get_exchange_rate(currency):
    return fetch_from_api(currency)

# Computation memoization
@mcache(maxsize=1000)
def fibonacci(n):
    if n <= 1:
        return n
    return fibonacci(n-1) + fibonacci(n-2)

# Session data caching
@mcache(maxsize=100, ttl=1800)  # 30-minute sessions
def get_user_session(session_id):
    return load_session_from_db(session_id)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Basic Usage",
        7,
        """\
from twat_cache import bcache

@bcache
def expensive_analysis(data_id):
    return analyze_dataset(data_id)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Full Parameters",
        8,
        """\
@bcache(
    folder_name="analysis_cache",  # Cache directory
    maxsize=1000,                  # Max cached items
    ttl=86400,                     # 24-hour expiration
    policy="lru",                  # Eviction policy
    use_sql=True,                  # SQLite storage
    secure=True                    # Secure mode
)
def process_report(report_id):
    return generate_report(report_id)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Use Cases",
        9,
        """\
# ML model predictions
@bcache(folder_name="model_cache", ttl=3600)
def predict(model_name, input_data):
    model = load_model(model_name)
    return model.predict(input_data)

# Web scraping results
@bcache(folder_name="scrape_cache", ttl=86400)
def scrape_website(url):
    response = requests.get(url)
    return parse_html(response.text)

# Report generation
@bcache(folder_name="reports", maxsize=100)
def generate_monthly_report(year, month):
    data = fetch_month_data(year, month)
    return create_report(data)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Basic Usage",
        10,
        """\
from twat_cache import fcache
import numpy as np

@fcache
def load_embeddings(model_name):
    return np.load(f"{model_name}_embeddings.npy")
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Full Parameters",
        11,
        """\
@fcache(
    folder_name="array_cache",  # Cache directory
    maxsize=50,                 # Max cached files
    ttl=None,                   # No expiration
    compress=True,              # Compress large objects
    secure=True                 # Secure mode
)
def process_image(image_path):
    return apply_filters(load_image(image_path))
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Use Cases",
        12,
        """\
# NumPy array caching
@fcache(compress=True)
def compute_correlation_matrix(dataset_id):
    data = load_dataset(dataset_id)
    return np.corrcoef(data.T)

# Pandas DataFrame caching
@fcache(folder_name="dataframes")
def merge_datasets(ids):
    dfs = [pd.read_csv(f"data_{id}.csv") for id in ids]
    return pd.concat(dfs, ignore_index=True)

# Image processing
@fcache(compress=True, maxsize=100)
def process_image_batch(image_urls):
    images = [download_image(url) for url in image_urls]
    return np.array([preprocess(img) for img in images])
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Basic Usage",
        13,
        """\
from twat_cache import acache

@acache
async def fetch_user(user_id):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"/api/users/{user_id}") as resp:
            return await resp.json()
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Full Parameters",
        14,
        """\
@acache(
    maxsize=100,      # Cache size
    ttl=60,           # 1-minute TTL
    policy="lru"      # Eviction policy
)
async def async_computation(x):
    await asyncio.sleep(1)  # Simulate async work
    return x ** 2
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Use Cases",
        15,
        """\
# API client with rate limiting
@acache(ttl=60, maxsize=1000)
async def api_request(endpoint, params):
    async with rate_limiter:
        async with aiohttp.ClientSession() as session:
            async with session.get(endpoint, params=params) as resp:
                return await resp.json()

# Database queries
@acache(ttl=300)
async def get_user_profile(user_id):
    async with db.acquire() as conn:
        return await conn.fetchone(
            "SELECT * FROM users WHERE id = $1", user_id
        )

# WebSocket data caching
@acache(maxsize=50, ttl=5)
async def get_live_price(symbol):
    async with websockets.connect(f"wss://stream/{symbol}") as ws:
        data = await ws.recv()
        return json.loads(data)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Conditional Caching",
        16,
        """\
from twat_cache import ucache

def should_cache(result):
    return result is not None and result.status == "success"

@ucache(maxsize=100)
def fetch_data(item_id):
    result = api.get(item_id)
    if should_cache(result):
        return result
    # Don't cache failures
    raise ValueError("Failed to fetch")
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Cache Key Customization",
        17,
        """\
from twat_cache import ucache
import hashlib

def custom_key(*args, **kwargs):
    # Create custom cache key
    key_str = f"{args}{sorted(kwargs.items())}"
    return hashlib.md5(key_str.encode()).hexdigest()

@ucache(maxsize=100)
def complex_function(obj, options=None):
    # obj might not be hashable
    cache_key = custom_key(obj.id, options)
    return process(obj, options)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Decorator Stacking",
        18,
        """\
from twat_cache import mcache, bcache
import functools

# Memory cache with disk backup
@mcache(maxsize=50, ttl=300)
@bcache(folder_name="backup", ttl=3600)
def hybrid_cache(x):
    return expensive_computation(x)

# With other decorators
@functools.lru_cache(maxsize=10)
@ucache(ttl=60)
@timing_decorator
def multi_decorated(x):
    return compute(x)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Dynamic Configuration",
        19,
        """\
from twat_cache import ucache
import os

# Configure via environment
cache_size = int(os.getenv("CACHE_SIZE", "100"))
cache_ttl = int(os.getenv("CACHE_TTL", "300"))

@ucache(maxsize=cache_size, ttl=cache_ttl)
def configurable_function(x):
    return process(x)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Cache Information",
        20,
        """\
@ucache
def my_func(x):
    return x ** 2

# Get cache statistics
info = my_func.cache_info()
print(f"Hits: {info.hits}")
print(f"Misses: {info.misses}")
print(f"Size: {info.currsize}/{info.maxsize}")
print(f"Hit Rate: {info.hits / (info.hits + info.misses):.2%}")
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "Cache Control",
        21,
        """\
# Clear entire cache
my_func.cache_clear()

# Remove specific entry
my_func.cache_delete(42)

# Check if key exists
if my_func.cache_contains(42):
    print("Value is cached")

# Get cached value directly
try:
    value = my_func.cache_get(42)
except KeyError:
    print("Not in cache")
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "2. Set Appropriate Limits",
        22,
        """\
# Prevent memory issues
@mcache(maxsize=1000)  # Limit cache size

# Prevent stale data
@ucache(ttl=300)  # 5-minute expiration

# Balance both
@bcache(maxsize=100, ttl=3600)  # Limited size + expiration
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "3. Monitor Performance",
        23,
        """\
def print_cache_stats(func):
    info = func.cache_info()
    hit_rate = info.hits / (info.hits + info.misses) if info.misses else 1.0
    print(f"{func.__name__}:")
    print(f"  Hit rate: {hit_rate:.1%}")
    print(f"  Size: {info.currsize}/{info.maxsize}")

# Regular monitoring
print_cache_stats(my_cached_func)
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "1. Unhashable Arguments",
        24,
        """\
# ❌ Won't work - list is unhashable
@ucache
def process_list(items):
    return sum(items)

# ✅ Convert to hashable type
@ucache
def process_list(items):
    return sum(tuple(items))  # Convert list to tuple
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "2. Mutable Default Arguments",
        25,
        """\
# ❌ Dangerous - mutable default
@ucache
def add_item(item, items=[]):
    items.append(item)
    return items

# ✅ Safe approach
@ucache
def add_item(item, items=None):
    if items is None:
        items = []
    return items + [item]  # Return new list
""",
    ),
    Example(
        "src_docs/user-guide/decorators.md",
        "3. Side Effects",
        26,
        """\
# ❌ Don't cache functions with side effects
@ucache
def update_database(user_id, data):
    db.update(user_id, data)  # Side effect!
    return "success"

# ✅ Cache only pure computations
@ucache
def calculate_score(user_data):
    return compute_score(user_data)  # No side effects
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Cache Decorators",
        1,
        """\
from twat_cache import ucache

@ucache
def expensive_function(x: int) -> int:
    return x ** 2
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Configuration",
        2,
        """\
@ucache(
    maxsize=100,      # Maximum items in cache
    ttl=3600,         # Time-to-live in seconds
    cache_engine="disk"  # Specific engine
)
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Context Management",
        3,
        """\
from twat_cache import CacheContext

with CacheContext(engine="memory", ttl=60):
    # All caching in this block uses these settings
    result = cached_function()
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Basic Caching",
        4,
        """\
from twat_cache import ucache

@ucache
def fetch_data(user_id: int) -> dict:
    # Expensive database query
    return db.query(f"SELECT * FROM users WHERE id = {user_id}")
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Async Caching",
        5,
        """\
from twat_cache import acache

@acache(ttl=300)
async def fetch_api_data(endpoint: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(endpoint) as response:
            return await response.json()
""",
    ),
    Example(
        "src_docs/user-guide/index.md",
        "Large Object Caching",
        6,
        """\
from twat_cache import fcache
import numpy as np

@fcache  # Uses joblib for efficient array storage
def process_image(image_path: str) -> np.ndarray:
    image = load_image(image_path)
    return apply_filters(image)
""",
    ),
    Example(
        "src_docs/user-guide/installation.md",
        "Basic Check",
        1,
        """\
import twat_cache
print(f"TWAT-Cache version: {twat_cache.__version__}")
""",
    ),
    Example(
        "src_docs/user-guide/installation.md",
        "Backend Availability",
        2,
        """\
from twat_cache.engines.manager import CacheEngineManager

# List available engines
engines = CacheEngineManager.list_engines()
print("Available engines:", engines)

# Check specific engine
if CacheEngineManager.is_engine_available("cachebox"):
    print("CacheBox (Rust) backend is available!")
""",
    ),
    Example(
        "src_docs/user-guide/installation.md",
        "Run a Simple Test",
        3,
        """\
from twat_cache import ucache

@ucache
def test_function(x: int) -> int:
    return x * 2

# Test caching
result1 = test_function(5)  # Computed
result2 = test_function(5)  # From cache

print(f"Results: {result1}, {result2}")
""",
    ),
    Example(
        "src_docs/user-guide/installation.md",
        "Import Errors",
        4,
        """\
# Check installed packages
pip list | grep twat-cache

# Reinstall
pip install --force-reinstall twat-cache
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Step 2: Your First Cache (1 minute)",
        1,
        '''\
from twat_cache import ucache
import time

# Add @ucache to any function you want to cache
@ucache
def slow_calculation(n):
    """Simulates an expensive calculation."""
    print(f"Computing {n}... (this takes 2 seconds)")
    time.sleep(2)  # Simulate slow computation
    return n ** 2

# First call - will be slow
start = time.time()
result1 = slow_calculation(10)
print(f"Result: {result1}, Time: {time.time() - start:.2f}s")

# Second call - instant from cache!
start = time.time()
result2 = slow_calculation(10)
print(f"Result: {result2}, Time: {time.time() - start:.2f}s")
''',
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Step 3: Cache Configuration (1 minute)",
        2,
        """\
from twat_cache import ucache

# Cache up to 100 items for 5 minutes each
@ucache(maxsize=100, ttl=300)
def fetch_user_data(user_id):
    print(f"Fetching data for user {user_id}")
    # Simulate database query
    return {"id": user_id, "name": f"User {user_id}"}

# Test it
user = fetch_user_data(123)  # Prints: Fetching data for user 123
user = fetch_user_data(123)  # No print - from cache!
user = fetch_user_data(456)  # Prints: Fetching data for user 456
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Step 4: Different Cache Types (1 minute)",
        3,
        """\
from twat_cache import mcache, bcache, fcache
import numpy as np

# Memory cache - fastest, no persistence
@mcache(maxsize=50)
def memory_cached_function(x):
    return x * 2

# Disk cache - survives program restarts
@bcache(folder_name="my_cache")
def persistent_function(x):
    return x ** 3

# File cache - great for large objects
@fcache(compress=True)
def process_array(size):
    return np.random.rand(size, size)

# Test them
print(memory_cached_function(5))    # Fast memory cache
print(persistent_function(5))       # Persisted to disk
array = process_array(1000)         # Efficiently cached large array
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Step 5: Async Functions (30 seconds)",
        4,
        """\
from twat_cache import acache
import asyncio

@acache(ttl=60)
async def fetch_api_data(endpoint):
    print(f"Fetching {endpoint}")
    # Simulate API call
    await asyncio.sleep(1)
    return {"endpoint": endpoint, "data": "example"}

async def main():
    # First call - slow
    data1 = await fetch_api_data("/users")  # Prints: Fetching /users

    # Second call - instant!
    data2 = await fetch_api_data("/users")  # No print - from cache!

asyncio.run(main())
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Step 6: Cache Management (30 seconds)",
        5,
        """\
from twat_cache import ucache

@ucache
def my_function(x):
    return x ** 2

# Use the function
results = [my_function(i) for i in range(5)]

# Check cache statistics
info = my_function.cache_info()
print(f"Hits: {info.hits}, Misses: {info.misses}")

# Clear the cache
my_function.cache_clear()
print("Cache cleared!")

# Delete specific entry
my_function.cache_delete(3)
print("Removed entry for x=3")
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Complete Example: Real-World Usage",
        6,
        '''\
from twat_cache import ucache, fcache
import pandas as pd
import time

# Cache expensive data loading
@fcache(folder_name="data_cache")
def load_dataset(filename):
    """Loads and preprocesses a dataset."""
    print(f"Loading {filename}...")
    # Simulate loading large CSV
    time.sleep(2)
    return pd.DataFrame({
        'id': range(1000),
        'value': range(1000)
    })

# Cache data transformations
@ucache(maxsize=10)
def transform_data(df, column, operation):
    """Apply transformation to dataframe."""
    print(f"Transforming {column} with {operation}")
    if operation == "square":
        df[f"{column}_squared"] = df[column] ** 2
    elif operation == "normalize":
        df[f"{column}_norm"] = df[column] / df[column].max()
    return df

# Use the cached functions
start_time = time.time()

# First run - everything computed
df = load_dataset("sales_2024.csv")
df = transform_data(df, "value", "square")
df = transform_data(df, "value", "normalize")

print(f"First run: {time.time() - start_time:.2f}s")

# Second run - all from cache!
start_time = time.time()

df = load_dataset("sales_2024.csv")  # Instant!
df = transform_data(df, "value", "square")  # Instant!
df = transform_data(df, "value", "normalize")  # Instant!

print(f"Second run: {time.time() - start_time:.2f}s")
''',
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "API Response Caching",
        7,
        """\
@ucache(ttl=300)  # 5-minute cache
def get_weather(city):
    return requests.get(f"https://api.weather.com/{city}").json()
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Database Query Caching",
        8,
        """\
@bcache(folder_name="db_cache", ttl=3600)  # 1-hour persistent cache
def get_user_profile(user_id):
    return db.query(f"SELECT * FROM users WHERE id = {user_id}")
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Computation Caching",
        9,
        """\
@mcache(maxsize=1000)  # Keep last 1000 results
def fibonacci(n):
    if n <= 1:
        return n
    return fibonacci(n-1) + fibonacci(n-2)
""",
    ),
    Example(
        "src_docs/user-guide/quickstart.md",
        "Cache Not Working?",
        10,
        """\
import os
os.environ["TWAT_CACHE_DEBUG"] = "1"
""",
    ),
)
