"""Reading a Prometheus endpoint in tests: every sample of one scrape, by name and labels."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

LabelSet = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Scrape:
    samples: dict[tuple[str, LabelSet], float]
    types: dict[str, str]  # family name -> counter, gauge, histogram, ...

    @classmethod
    def parse(cls, text: str) -> Scrape:
        samples: dict[tuple[str, LabelSet], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                samples[sample.name, frozenset(sample.labels.items())] = sample.value
        return cls(samples, types)

    def get(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a series not there yet (a histogram or counter
        child appears on its first observation)."""
        return self.get(name, **labels) or 0.0

    def named(self, name: str) -> dict[LabelSet, float]:
        return {labels: value for (sample, labels), value in self.samples.items() if sample == name}

    def delta(self, before: Scrape, name: str, **labels: str) -> float:
        return self.value(name, **labels) - before.value(name, **labels)


def scrape(url: str, timeout: float = 10) -> Scrape:
    response = httpx.get(url, timeout=timeout)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return Scrape.parse(response.text)


def scrape_when_up(url: str, timeout: float = 60) -> Scrape:
    """The first scrape that answers (a worker's endpoint starts after its worker)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(url)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def scrape_until(url: str, holds: Callable[[Scrape], bool], timeout: float = 20) -> Scrape:
    """Scrape until `holds` (figures written just after a task's end reach the page a
    moment later); the last scrape otherwise, for the assertion to show."""
    deadline = time.monotonic() + timeout
    while True:
        found = scrape(url)
        if holds(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
