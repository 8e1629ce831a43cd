"""The URLconf's patterns, for tests that must cover every route (new ones included)."""

from django.urls import URLPattern, URLResolver, get_resolver


def all_routes() -> list[str]:
    """Every URL pattern, as written in the URLconf (regex routes keep their anchors)."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns)
    return found
