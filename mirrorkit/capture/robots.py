"""robots.txt: parsing with urllib.robotparser, and what a failed robots fetch means."""

from __future__ import annotations

from typing import Optional
from urllib.robotparser import RobotFileParser

ROBOTS_AGENT = "mirrorkit"
MAX_CRAWL_DELAY = 30.0


class Robots:
    """The rules of one host. Missing or broken robots.txt allows everything, 401/403 nothing."""

    def __init__(self, status: Optional[int], text: str = "") -> None:
        """Build from the robots.txt status and text (status None: it could not be fetched)."""
        self.parser = RobotFileParser()
        self.status = status
        # Through parse() only: robotparser's allow_all/disallow_all flags are not public API.
        if status in (401, 403):
            self.parser.parse(["User-agent: *", "Disallow: /"])
        elif status is not None and 200 <= status < 300:
            self.parser.parse(text.splitlines())
        else:
            # 404, 5xx, network failure: the de-facto rule (and robotparser's) is "allowed".
            self.parser.parse([])

    def allows(self, url: str, agent: str = ROBOTS_AGENT) -> bool:
        """True when `agent` may fetch `url`."""
        return self.parser.can_fetch(agent, url)

    def crawl_delay(self, agent: str = ROBOTS_AGENT) -> float:
        """The host's Crawl-delay for `agent` (0 when none), capped at 30 s."""
        try:
            delay = self.parser.crawl_delay(agent)
        except (AttributeError, TypeError, ValueError):
            return 0.0
        return min(float(delay or 0), MAX_CRAWL_DELAY)


def robots_url(host: str) -> str:
    """The robots.txt URL for a scheme://host[:port] key."""
    return host.rstrip("/") + "/robots.txt"
