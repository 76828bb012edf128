"""Enumerate the whole URLconf as concrete URLs, so tests cover views added later."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*(?:\([^()]*\)[^()]*)*)\)")
_SAMPLES = {"int": "1", "uuid": "00000000-0000-0000-0000-000000000001"}


@dataclass(frozen=True)
class ConcreteURL:
    name: str  # "namespace:name", or the route when unnamed
    url: str
    callback: object


def _fill_route(route: str) -> str:
    return _ROUTE_PARAM.sub(lambda m: _SAMPLES.get(m.group("conv") or "", "x"), route)


def _fill_regex(regex: str) -> str:
    def group(match: re.Match[str]) -> str:
        body = match.group("body")
        if re.fullmatch(r"[\w|-]+", body):  # an alternation of words: take the first
            return body.split("|")[0]
        return "1" if body in (r"\d+", "[0-9]+") else "x"

    filled = _REGEX_GROUP.sub(group, regex)
    return filled.replace("^", "").replace("$", "").replace("\\", "")


def _piece(pattern: URLPattern | URLResolver) -> str:
    raw = str(pattern.pattern)
    if pattern.pattern.__class__.__name__ == "RegexPattern":
        return _fill_regex(raw)
    return _fill_route(raw)


def _walk(
    patterns: list[URLPattern | URLResolver], prefix: str, namespace: str
) -> Iterator[tuple[str, str, object]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + _piece(pattern), ns)
        else:
            name = pattern.name or ""
            full = f"{namespace}:{name}" if namespace and name else name
            yield full, prefix + _piece(pattern), pattern.callback


def all_urls() -> list[ConcreteURL]:
    """Every pattern of the URLconf as one concrete URL that resolves to its view."""
    found: list[ConcreteURL] = []
    for name, path, callback in _walk(get_resolver().url_patterns, "", ""):
        url = "/" + path
        try:
            resolve(url)
        except Resolver404:  # a pattern we could not fill in: fail loudly, never skip
            raise AssertionError(f"cannot build a URL for {name or path!r}") from None
        found.append(ConcreteURL(name=name or path, url=url, callback=callback))
    return found
