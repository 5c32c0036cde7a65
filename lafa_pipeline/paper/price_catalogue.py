"""A constructed laptop catalogue for the regression case (the paper's case III data is private).

Each listing names a brand, CPU, RAM, storage and screen size in varied templates, padded with
distractor sentences (colour, shipping, warranty, weight) that do not change the price. The
price follows known rules with multiplicative noise:

    price = (300 + cpu + ram + storage + screen) * brand factor * exp(N(0, noise^2))

so the words that drive the price are known: the ``key_spans`` of each listing.

Example:
    >>> items = generate_catalogue(2, seed=1)
    >>> len(items), items[0].price > 300
    (2, True)
    >>> all(items[0].text[s:e] for s, e in items[0].key_spans)
    True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

BRANDS = {
    "Apple": 1.35,
    "Razer": 1.3,
    "Microsoft": 1.2,
    "MSI": 1.1,
    "Dell": 1.05,
    "Samsung": 1.05,
    "HP": 1.0,
    "Lenovo": 1.0,
    "Asus": 0.95,
    "Acer": 0.9,
}
PC_CPUS = {
    "Intel Core i3": 0,
    "Intel Core i5": 150,
    "Intel Core i7": 350,
    "Intel Core i9": 700,
    "AMD Ryzen 3": 0,
    "AMD Ryzen 5": 130,
    "AMD Ryzen 7": 320,
    "AMD Ryzen 9": 650,
}
APPLE_CPUS = {"Apple M1": 150, "Apple M2": 350, "Apple M3": 550, "Apple M3 Max": 1100}
RAM = {"4GB": 0, "8GB": 80, "16GB": 200, "32GB": 450, "64GB": 900}
STORAGE = {"1TB HDD": 40, "128GB SSD": 0, "256GB SSD": 60, "512GB SSD": 150, "1TB SSD": 300, "2TB SSD": 600}
SCREENS = {"13.3": 0, "14": 30, "15.6": 50, "16": 80, "17.3": 100}
BASE_PRICE = 300.0

COLOURS = ["Silver", "Space Gray", "Black", "Midnight Blue", "White", "Graphite"]
DISTRACTORS = [
    "Ships within two business days.",
    "Great for students and professionals alike.",
    "Backlit keyboard with a comfortable layout.",
    "Includes a one-year limited warranty.",
    "Free returns within 30 days.",
    "Weighs about {weight} kg.",
    "Available in {colour}.",
    "Sleek design and a sturdy hinge.",
    "Comes with a charger and a quick start guide.",
    "Two USB ports and a headphone jack.",
    "Rated highly by our customers.",
    "Perfect for streaming, browsing and office work.",
]
# Templates of the attribute part; {cpu} etc. are filled with the attribute values.
OPENINGS = [
    "{brand} {screen}-inch laptop with {cpu} processor, {ram} RAM and {storage}.",
    "{brand} notebook: {cpu}, {ram} memory, {storage}, {screen}-inch display.",
    "New {brand} laptop. Processor: {cpu}. Memory: {ram}. Storage: {storage}. Screen: {screen} inches.",
    "Powerful {screen}-inch {brand} laptop featuring {cpu}, {storage} and {ram} RAM.",
    "{brand} ultrabook with {ram} RAM, {storage} and {cpu} chip, {screen}-inch screen.",
]


@dataclass
class Listing:
    text: str
    price: float
    key_spans: list[tuple[int, int]]
    """Character spans of the price-driving attribute values (brand, CPU, RAM, storage, screen)."""
    attributes: dict[str, str]


def rule_price(attributes: dict[str, str]) -> float:
    """The noise-free price of a listing's attributes."""
    cpus = APPLE_CPUS if attributes["brand"] == "Apple" else PC_CPUS
    total = (
        BASE_PRICE
        + cpus[attributes["cpu"]]
        + RAM[attributes["ram"]]
        + STORAGE[attributes["storage"]]
        + SCREENS[attributes["screen"]]
    )
    return total * BRANDS[attributes["brand"]]


def generate_catalogue(
    n: int, seed: int = 0, noise: float = 0.03, distractors: tuple[int, int] = (2, 4)
) -> list[Listing]:
    """``n`` listings with prices from ``rule_price`` times log-normal noise of std ``noise``."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        brand = rng.choice(list(BRANDS))
        attributes = {
            "brand": brand,
            "cpu": rng.choice(list(APPLE_CPUS if brand == "Apple" else PC_CPUS)),
            "ram": rng.choice(list(RAM)),
            "storage": rng.choice(list(STORAGE)),
            "screen": rng.choice(list(SCREENS)),
        }
        text, spans = _fill(rng.choice(OPENINGS), attributes)
        extra = rng.sample(DISTRACTORS, rng.randint(*distractors))
        extra = [d.format(weight=f"{rng.uniform(1.1, 2.9):.1f}", colour=rng.choice(COLOURS)) for d in extra]
        cut = rng.randint(0, len(extra))  # distractors before and after the attributes
        before = " ".join(extra[:cut])
        shift = len(before) + 1 if before else 0
        text = " ".join(part for part in (before, text, " ".join(extra[cut:])) if part)
        spans = [(s + shift, e + shift) for s, e in spans]
        price = rule_price(attributes) * math.exp(rng.gauss(0.0, noise))
        items.append(Listing(text, round(price, 2), spans, attributes))
    return items


def _fill(template: str, attributes: dict[str, str]) -> tuple[str, list[tuple[int, int]]]:
    """The template with attribute values filled in, and the spans of those values."""
    out, spans, pos = [], [], 0
    while True:
        start = template.find("{", pos)
        if start < 0:
            out.append(template[pos:])
            break
        end = template.index("}", start)
        out.append(template[pos:start])
        here = sum(len(p) for p in out)
        value = attributes[template[start + 1 : end]]
        out.append(value)
        spans.append((here, here + len(value)))
        pos = end + 1
    return "".join(out), spans
