"""Simulated visitors: real HTTP on localhost, each with their own cookie jar.

People load the pixel (a browser fetches the page's images); bots don't, and
some announce themselves as crawlers. Who buys depends on the population a
person was put in, so the test has something to find.
"""

from __future__ import annotations

import http.cookiejar
import random
import re
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SCRAPER = "python-requests/2.32.3"
PIXEL = re.compile(rb'<img src="([^"]+)"')
BUTTON = re.compile(rb'<button class="(\w+)"')


@dataclass
class Tally:
    """What the simulation did, to compare with what the backend counts."""

    people: int = 0
    bots: int = 0
    requests: int = 0


class Browser:
    """One visitor: a cookie jar, a user agent, and whether it loads images."""

    def __init__(self, base: str, user_agent: str, loads_images: bool, tally: Tally) -> None:
        self.base = base
        self.loads_images = loads_images
        self.tally = tally
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.opener.addheaders = [("User-Agent", user_agent)]

    def get(self, path: str, data: bytes | None = None, referrer: str | None = None) -> bytes:
        request = urllib.request.Request(self.base + path, data=data)
        if referrer:
            request.add_header("Referer", referrer)
        with self.opener.open(request, timeout=10) as response:
            body: bytes = response.read()
        self.tally.requests += 1
        if self.loads_images:
            for src in PIXEL.findall(body):
                with self.opener.open(self.base + src.decode(), timeout=10) as image:
                    image.read()
                self.tally.requests += 1
        return body


# Where people come from: (landing path, referrer), with weights. The landing
# URL's utm_* parameters are what the campaign rollups count.
ARRIVALS = [
    (("/", None), 4),
    (("/", "https://www.google.com/"), 3),
    (("/?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale", None), 2),
    (("/?utm_source=mastodon&utm_medium=social&utm_campaign=spring-sale", None), 1),
    (("/?utm_source=google&utm_medium=cpc&utm_campaign=widgets", "https://www.google.com/"), 1),
]


def person(base: str, rng: random.Random, tally: Tally) -> None:
    browser = Browser(base, rng.choice([CHROME, CHROME, FIREFOX, SAFARI]), True, tally)
    [(landing, referrer)] = rng.choices(
        [arrival for arrival, _ in ARRIVALS], [weight for _, weight in ARRIVALS]
    )
    browser.get(landing, referrer=referrer)
    if rng.random() < 0.3:
        browser.get("/about")
    product = rng.choice("123")
    if rng.random() < 0.4:
        browser.get(f"/product/{rng.choice('123')}")  # looks around first
    body = browser.get(f"/product/{product}")
    button = BUTTON.search(body)
    # The orange button sells better: the effect the test should find.
    eager = 0.55 if button and button.group(1) == b"orange" else 0.35
    if rng.random() < eager:
        browser.get(f"/cart/{product}", data=b"")
        if rng.random() < 0.6:
            browser.get("/checkout")
            if rng.random() < 0.7:
                browser.get("/buy", data=f"total={rng.choice([12.5, 30, 37.25])}".encode())
    browser.get("/api/stock")  # JSON: not a page view
    tally.people += 1


def bot(base: str, rng: random.Random, tally: Tally) -> None:
    browser = Browser(base, rng.choice([GOOGLEBOT, SCRAPER]), False, tally)
    for path in ("/", "/product/1", "/product/2", "/checkout"):
        browser.get(path)
    tally.bots += 1


def simulate(base: str, people: int, bots: int, seed: int = 2014, threads: int = 8) -> Tally:
    """Send ``people`` people and ``bots`` bots to the shop at ``base``."""
    tally = Tally()
    rng = random.Random(seed)
    jobs = [(person, random.Random(rng.random())) for _ in range(people)]
    jobs += [(bot, random.Random(rng.random())) for _ in range(bots)]
    random.Random(seed).shuffle(jobs)
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(job, base, job_rng, tally) for job, job_rng in jobs]:
            future.result()
    return tally
