"""Parsing of cache URLs such as ``redis://h:6379/0?max_connections=20``.

Engines receive an :class:`EngineURL` and read their options from it with the
typed ``option_*`` helpers; :meth:`EngineURL.finish` then rejects any option
nobody asked for, so a misspelt option fails loudly at decoration time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from twat_cache.constants import REDACTED
from twat_cache.exceptions import ConfigurationError

__all__ = ["EngineURL", "parse_url", "redact", "redact_text"]

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
# query options whose values are credentials (password=, aws_secret_access_key=, token=...)
_CREDENTIAL_NAMES = r"pas+w|pwd|secret|token|credential|auth"  # "pas+w": also a misspelt pasword
_SECRET_OPTION = re.compile(rf"([?&][^=&#]*(?:{_CREDENTIAL_NAMES})[^=&#]*=)[^&#]*", re.IGNORECASE)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SECRET_NAME = re.compile(_CREDENTIAL_NAMES, re.IGNORECASE)
_T = TypeVar("_T")


def _shown(name: str, value: str) -> str:
    """``value`` as an error message may show it: hidden when ``name`` is a credential."""
    return REDACTED if _SECRET_NAME.search(name) else value


@dataclass
class EngineURL:
    """A parsed cache URL.

    Attributes:
        scheme: The engine name, e.g. ``redis`` or ``redis+cluster``.
        hosts: ``(host, port)`` pairs; ``port`` is ``None`` when not given.
        path: The path, percent-decoded (``/0``, ``/var/cache/app``).
        username: The user, if any.
        password: The password, if any (never shown in messages).
        options: Query options not yet consumed by core or the engine.
        raw: The URL as given.
    """

    scheme: str
    hosts: list[tuple[str, int | None]]
    path: str
    username: str | None
    password: str | None
    options: dict[str, str]
    raw: str
    _used: set[str] = field(default_factory=set, repr=False)
    core_options: tuple[str, ...] = field(default=(), repr=False)
    """Options core takes from a URL: an unknown option may be a misspelling of one."""

    @property
    def redacted(self) -> str:
        """The URL with its password (and secret query options) replaced by ``***``."""
        return redact(self.raw)

    @property
    def host(self) -> str | None:
        """The first host, or ``None``."""
        return self.hosts[0][0] if self.hosts else None

    @property
    def port(self) -> int | None:
        """The first host's port, or ``None``."""
        return self.hosts[0][1] if self.hosts else None

    def _error(self, name: str, value: str, allowed: str) -> ConfigurationError:
        return ConfigurationError(f"{self.scheme} option {name!r}", _shown(name, value), allowed)

    def _take(self, name: str) -> str | None:
        self._used.add(name)
        return self.options.get(name)

    def option_str(self, name: str, default: _T, choices: tuple[str, ...] = ()) -> str | _T:
        """Read a string option, optionally restricted to ``choices``."""
        raw = self._take(name)
        if raw is None:
            return default
        if choices and raw not in choices:
            raise self._error(name, raw, "one of " + ", ".join(choices))
        return raw

    def option_int(self, name: str, default: _T, minimum: int | None = None) -> int | _T:
        """Read an integer option, optionally at least ``minimum``."""
        raw = self._take(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._error(name, raw, "an integer") from None
        if minimum is not None and value < minimum:
            raise self._error(name, raw, f"an integer >= {minimum}")
        return value

    def option_float(self, name: str, default: _T, minimum: float = 0.0) -> float | _T:
        """Read a finite float option, at least ``minimum``."""
        raw = self._take(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise self._error(name, raw, "a number") from None
        if not math.isfinite(value) or value < minimum:
            raise self._error(name, raw, f"a finite number >= {minimum}")
        return value

    def option_bool(self, name: str, default: _T) -> bool | _T:
        """Read a boolean option (1/0, true/false, yes/no, on/off)."""
        raw = self._take(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise self._error(name, raw, "true or false")

    def finish(self) -> None:
        """Raise :class:`ConfigurationError` for any option no one read.

        Raises:
            ConfigurationError: naming the first unknown option and the known ones.
        """
        unknown = sorted(set(self.options) - self._used)
        if unknown:
            error = ConfigurationError.unknown("", unknown[0], self._used, also=self.core_options)
            raise ConfigurationError(
                f"{self.scheme} URL option {unknown[0]!r}",
                _shown(unknown[0], self.options[unknown[0]]),
                error.allowed,
            )

    def require_host(self, default_port: int) -> list[tuple[str, int]]:
        """Return the hosts with ports filled in; raise when there is none."""
        if not self.hosts:
            raise ConfigurationError(
                "url", self.redacted, f"a host is required: {self.scheme}://HOST:PORT"
            )
        return [(h, p if p is not None else default_port) for h, p in self.hosts]


def _split_authority(url: str) -> tuple[str, str, str]:
    """Split ``url`` into ``scheme://``, the authority (``user:pw@hosts``) and the rest."""
    head, sep, rest = url.partition("://")
    # the authority ends where urlsplit ends it: at the first '/', '?' or '#'
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return head + sep, rest[:end], rest[end:]


def redact(url: str) -> str:
    """Return ``url`` with the password and credential-like query options replaced by ``***``.

    Example:
        >>> redact("redis://user:s3cret@host:6379/0?password=x&db=1")
        'redis://user:***@host:6379/0?password=***&db=1'
    """
    if "://" not in url:
        return url
    head, netloc, tail = _split_authority(url)
    if "@" in netloc:  # the password may itself hold '@': the hosts follow the last one
        userinfo, hosts = netloc.rsplit("@", 1)
        user, colon, _ = userinfo.partition(":")
        if colon:
            netloc = f"{user}:{REDACTED}@{hosts}"
    return head + netloc + _SECRET_OPTION.sub(rf"\g<1>{REDACTED}", tail)


def redact_text(text: str, *secrets: str | bytes | None, url: str | None = None) -> str:
    """Return ``text`` (an error message, a log line) with every secret replaced by ``***``.

    The one place where passwords are taken out of messages: engines pass their
    password when they turn a client's exception into a
    :class:`~twat_cache.exceptions.BackendError` (a client may quote its connection
    string), and the command line passes the URL and the HMAC secret.

    Args:
        text: The message.
        *secrets: Values that must not be shown; ``None`` and empty ones are skipped.
        url: A cache URL the message may quote: it is shown redacted (see
            :func:`redact`), and its password is hidden wherever else it appears.

    Returns:
        ``text`` without the secrets.

    Example:
        >>> redact_text("auth failed for hunter2 at redis://:hunter2@h", url="redis://:hunter2@h")
        'auth failed for *** at redis://:***@h'
    """
    hidden = [s.decode(errors="replace") if isinstance(s, bytes) else s for s in secrets if s]
    if url:
        text = text.replace(url, redact(url))
        _, netloc, tail = _split_authority(url)
        userinfo = netloc.rsplit("@", 1)[0] if "@" in netloc else ""
        _, colon, password = userinfo.partition(":")
        if colon:
            hidden += [password, unquote(password)]
        for option in _SECRET_OPTION.finditer(tail):  # ?password=...&token=...
            value = option.group(0)[len(option.group(1)) :]
            hidden += [value, unquote(value)]
    # the longest first: a secret that contains another is hidden whole
    for secret in sorted({s for s in hidden if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _parse_hosts(netloc: str, raw: str) -> list[tuple[str, int | None]]:
    hosts: list[tuple[str, int | None]] = []
    for part in netloc.split(","):
        if not part:
            continue
        if part.startswith("["):  # [::1]:6379
            host, _, rest = part[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port_text = part.rpartition(":") if ":" in part else (part, "", "")
        if not host:
            raise ConfigurationError("url", raw, "each host must be HOST or HOST:PORT")
        port: int | None = None
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ConfigurationError("url port", port_text, "an integer from 1 to 65535")
            port = int(port_text)
        hosts.append((unquote(host), port))
    return hosts


def parse_url(url: str, extra_options: Mapping[str, object] | None = None) -> EngineURL:
    """Parse a cache URL.

    Args:
        url: ``scheme://[user[:password]@]host[:port][,host[:port]...][/path][?options]``.
        extra_options: Options given as keywords; they override the query string.

    Returns:
        The parsed URL.

    Raises:
        ConfigurationError: when the URL has no scheme or a malformed host list.

    Example:
        >>> parse_url("redis+cluster://a:7000,b:7001?ssl=true").hosts
        [('a', 7000), ('b', 7001)]
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            "url", url, "a URL such as memory://, disk:///path or redis://host:6379/0"
        )
    scheme = url.split("://", 1)[0].lower()
    if not _SCHEME.match(scheme):
        raise ConfigurationError("url scheme", scheme, "letters, digits, '+', '-' and '.'")
    try:
        parts = urlsplit("x://" + url.split("://", 1)[1])
    except ValueError as exc:  # e.g. an unclosed '[' of an IPv6 address
        raise ConfigurationError("url", redact(url), f"a well-formed URL ({exc})") from None
    netloc = parts.netloc
    username = password = None
    if "@" in netloc:
        userinfo, netloc = netloc.rsplit("@", 1)
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    try:
        query = dict(
            parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
        )
    except ValueError:
        raise ConfigurationError(
            "url query", parts.query, "name=value pairs joined by '&'"
        ) from None
    for name, value in (extra_options or {}).items():
        query[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return EngineURL(
        scheme=scheme,
        hosts=_parse_hosts(netloc, redact(url)),
        path=unquote(parts.path),
        username=username,
        password=password,
        options=query,
        raw=url,
    )
