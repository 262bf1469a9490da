"""The demo graph's search tool ``tavily_search_results_json``: canned, offline, deterministic.

Whichever chat model the demo uses, this tool never calls Tavily: it returns a fixed weather
report for a few known cities (San Francisco, New York, Los Angeles, London, Seattle, with a
few aliases such as "sf" or "nyc"), a generic report for other places, and a placeholder
result for any other query.

:func:`query_for` is the query the scripted model (:mod:`app.graphs.demo_model`) sends for a
user's question, parsed by the same rule as the tool's ("weather in <place>").
"""

from __future__ import annotations

import json
import re

from langchain_core.tools import tool

TOOL_NAME = "tavily_search_results_json"

# Alias -> canonical place name used in search queries.
_PLACE_ALIASES: dict[str, str] = {
    "sf": "san francisco",
    "s.f.": "san francisco",
    "san fran": "san francisco",
    "frisco": "san francisco",
    "la": "los angeles",
    "l.a.": "los angeles",
}

# Canonical place (or alias) -> canned search result.
_WEATHER: dict[str, dict[str, str]] = {
    "san francisco": {
        "url": "https://www.weatherapi.com/weather/q/san-francisco-california-usa",
        "content": (
            "The current weather in San Francisco is 58°F (14°C) and partly cloudy, "
            "with morning fog clearing by early afternoon. Humidity is 78% and the wind "
            "is from the west at 12 mph; expect a high of 64°F (18°C) and a low of "
            "53°F (12°C) today."
        ),
    },
    "new york": {
        "url": "https://www.weatherapi.com/weather/q/new-york-new-york-usa",
        "content": (
            "The current weather in New York City is 72°F (22°C) and mostly sunny. "
            "Humidity is 55% and the wind is from the southwest at 8 mph; expect a "
            "high of 78°F (26°C) and a low of 65°F (18°C) today."
        ),
    },
    "los angeles": {
        "url": "https://www.weatherapi.com/weather/q/los-angeles-california-usa",
        "content": (
            "The current weather in Los Angeles is 75°F (24°C) and sunny. Humidity is "
            "40% and the wind is from the southwest at 6 mph; expect a high of 82°F "
            "(28°C) and a low of 62°F (17°C) today."
        ),
    },
    "london": {
        "url": "https://www.weatherapi.com/weather/q/london-city-of-london-greater-london-united-kingdom",
        "content": (
            "The current weather in London is 61°F (16°C) with light rain. Humidity is "
            "82% and the wind is from the south at 10 mph; expect a high of 64°F "
            "(18°C) and a low of 54°F (12°C) today."
        ),
    },
    "seattle": {
        "url": "https://www.weatherapi.com/weather/q/seattle-washington-usa",
        "content": (
            "The current weather in Seattle is 57°F (14°C) and overcast, with a chance "
            "of drizzle this evening. Humidity is 80% and the wind is from the south at "
            "7 mph; expect a high of 63°F (17°C) and a low of 51°F (11°C) today."
        ),
    },
}
_WEATHER_KEYS: dict[str, str] = {
    "nyc": "new york",
    "new york city": "new york",
    "ny": "new york",
}

_WEATHER_QUERY = re.compile(
    r"\bweather\b(?:\s+(?:like\s+)?(?:in|for|at|of)\s+(?P<place>.+))?", re.IGNORECASE
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip("?!.,;: ").strip()


def _canonical_place(place: str) -> str:
    place = _clean(place.lower())
    place = re.sub(r"^(?:the\s+)", "", place)
    place = re.sub(r"\s+(?:today|now|right now|tonight|tomorrow)$", "", place)
    return _PLACE_ALIASES.get(place, place)


def _search(query: str) -> list[dict[str, str]]:
    match = _WEATHER_QUERY.search(query)
    if match is not None:
        place = _canonical_place(match.group("place") or "")
        if not place:
            place = "san francisco"
        known = _WEATHER.get(_WEATHER_KEYS.get(place, place))
        if known is not None:
            return [dict(known)]
        name = place.title()
        slug = re.sub(r"[^a-z0-9]+", "-", place).strip("-") or "unknown"
        return [
            {
                "url": f"https://www.weatherapi.com/weather/q/{slug}",
                "content": (
                    f"The current weather in {name} is 68°F (20°C) and mostly sunny, "
                    "with light winds and no rain expected today."
                ),
            }
        ]
    slug = re.sub(r"[^a-z0-9]+", "+", query.lower()).strip("+")
    return [
        {
            "url": f"https://example.com/search?q={slug}",
            "content": (
                f'This is a canned result for "{query}": Turnstile\'s demo search tool '
                "works offline and does not search the web."
            ),
        }
    ]


@tool(TOOL_NAME)
def tavily_search_results_json(query: str) -> str:
    """A search engine optimized for comprehensive, accurate, and trusted results.

    Useful for when you need to answer questions about current events, such as the
    weather. Input should be a search query. (Demo: returns canned, offline results.)
    """
    return json.dumps(_search(query), ensure_ascii=False)


def query_for(question: str) -> str:
    """The search query for a user's ``question`` (e.g. "weather in san francisco")."""
    text = _clean(question)
    match = _WEATHER_QUERY.search(text)
    if match is not None:
        place = _canonical_place(match.group("place") or "")
        return f"weather in {place}" if place else "weather"
    return text.lower() or "hello"
