"""A scrape of ``/metrics``: the counted metrics (``app.observability.metrics.source()``:
all processes of the host in multiprocess mode), this process's own process and Python
metrics, and the gauges read at scrape time (the database's queue, this process's loops,
pool and caches) as Prometheus text; and the official server's JSON shapes built from the
same values (``?format=json``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from app.observability import metrics

CONTENT_TYPE = CONTENT_TYPE_LATEST


class _Scrape:
    """What ``generate_latest`` reads: several collectors, one after the other."""

    def __init__(self, collectors: Iterable[Any]) -> None:
        self.collectors = list(collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def gauge(name: str, documentation: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def labelled(
    name: str, documentation: str, label: str, by: dict[str, float], *, counter: bool = False
) -> Metric:
    """One family with a sample per ``by`` key (``label="key"``)."""
    family: Metric = (
        CounterMetricFamily(name, documentation, labels=[label])
        if counter
        else GaugeMetricFamily(name, documentation, labels=[label])
    )
    for key, value in by.items():
        family.add_metric([key], value)  # type: ignore[attr-defined]
    return family


def text(families: list[Metric]) -> bytes:
    """The Prometheus text of a scrape: counted metrics, then this process's process and
    Python metrics, then ``families`` (read now)."""
    return generate_latest(
        _Scrape(
            [
                metrics.source(),
                PROCESS_COLLECTOR,
                PLATFORM_COLLECTOR,
                GC_COLLECTOR,
                _Families(families),
            ]
        )
    )


def counted() -> dict[str, list[Any]]:
    """The counted metrics' samples by family name, read once (every process's files in
    multiprocess mode)."""
    out: dict[str, list[Any]] = {}
    for family in metrics.source().collect():
        out.setdefault(family.name, []).extend(family.samples)
    return out


def http_requests(samples: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The official server's ``api.http_requests_total``: one entry per method, route
    template and status."""
    return [
        {
            "method": s.labels["method"],
            "path": s.labels["path"],
            "status": int(s.labels["status"]),
            "count": int(s.value),
        }
        for s in samples.get("lg_api_http_requests", [])
        if s.name.endswith("_total")
    ]


def workers(samples: dict[str, list[Any]]) -> dict[str, int]:
    """The official server's ``workers``: run slots, busy and free, over live processes."""
    return {
        key: int(sum(s.value for s in samples.get(f"lg_api_workers_{key}", [])))
        for key in ("max", "active", "available")
    }
