r"""The built-in default dataset: a synthetic click log with categories, brands and item text.

Deterministic by ``seed`` (one ``numpy.random.Generator(PCG64(seed))``), fast (about 0.1 s for the default size),
and built so that side information carries signal a model can use:

* **Items.** Zipf–Mandelbrot popularity :math:`w_i \propto (r_i + q)^{-1}` over a random popularity rank
  :math:`r_i` (exponent 1, head flattened by :math:`q`, as in real e-commerce logs where the top items are less
  dominant than a pure Zipf law). Every item has one category (category sizes are themselves Zipf-like) and one
  brand; each brand is tied to a few categories, and an item's brand is drawn, by brand popularity, among the
  brands tied to its category.
* **Sessions.** A Markov chain over categories: from category :math:`c` the session stays with probability
  ``STAY``, moves to one of ``SUCCESSORS`` likely successor categories (fixed per category, drawn by category
  popularity) with probability ``1 - STAY - JUMP``, or jumps to any category by popularity with probability
  ``JUMP``. Within the new category the item is drawn by popularity; with probability ``BRAND_AFFINITY`` it is
  drawn among the items of the previous item's brand instead, when that brand has items in the new category.
  With probability ``RETURN`` (from the third click on) the session returns to an earlier item of the session
  (never the immediately previous one) and continues from that item's category and brand, so sessions re-click
  items and re-visit categories. Lengths are ``2 + floor(LogNormal)``, capped at ``MAX_LENGTH`` (mean ≈ 5.6).
* **Time.** Session starts are uniform over ``days`` days; clicks are 10–300 s apart.
* **Text.** ``"<brand word> <category modifier> <category noun> <filler> <filler>"``: pseudo-words generated per
  brand and per category (a noun shared by every item of the category, one of a few modifiers), plus two generic
  filler words, so that text similarity reflects category and brand.

Everything is vectorised: all sessions are generated at once, looping only over click positions; sampling by
popularity within a group (a category, a ``(category, brand)`` pair) is one ``searchsorted`` over the groups'
cumulative distributions, each shifted by its group's index.

The record goes through the ``session`` protocol like any raw click log: ``session_protocol(generate(), "synthetic")``.
With the defaults (seed 0) that leaves 1,979 items, 19,997 sessions of mean length 5.6, 11.8 % of them in the
test split; a next-category guess from category bigrams is right 34 % of the time (the most popular category:
10 %), and the popular items of the guessed category reach hr@20 0.27 (overall popularity: 0.16).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import ConfigError
from ..records import ClickLog

#: Offset :math:`q` of the Zipf–Mandelbrot item popularity :math:`(r + q)^{-1}`.
POPULARITY_OFFSET = 30.0
#: Exponent of the Zipf-like category sizes and brand popularity.
GROUP_EXPONENT = 0.7
#: Probability to stay in the current category.
STAY = 0.35
#: Probability to jump to any category (by popularity) instead of following the chain.
JUMP = 0.1
#: Number of likely successor categories of each category.
SUCCESSORS = 3
#: Probability to draw the next item among the previous item's brand (when it has items in the new category).
BRAND_AFFINITY = 0.5
#: Probability to return to an earlier item of the session (from the third click on).
RETURN = 0.12
#: Extra categories per brand besides its own: 0 .. MAX_EXTRA_CATEGORIES, uniformly.
MAX_EXTRA_CATEGORIES = 2
#: Session length = 2 + floor(LogNormal(LENGTH_MU, LENGTH_SIGMA)), at most MAX_LENGTH.
LENGTH_MU, LENGTH_SIGMA, MAX_LENGTH = 1.1, 0.8, 50
#: Seconds between two clicks of a session: uniform integers in [MIN_GAP, MAX_GAP].
MIN_GAP, MAX_GAP = 10, 300
#: Unix time of the first day (2016-01-01 00:00 UTC).
EPOCH = 1_451_606_400.0
DAY = 86400.0

_CONSONANTS = list("bdfgklmnprstvz")
_VOWELS = list("aeiou")
_SYLLABLES = np.array([c + v for c in _CONSONANTS for v in _VOWELS])
_FILLERS = np.array(["new", "classic", "premium", "set", "pack", "pro", "plus", "original", "deluxe", "edition",
                     "series", "style", "basic", "value", "home", "travel", "compact", "large", "small", "bundle"])
#: Modifier words per category (an item carries one of them beside its category's noun).
_MODIFIERS = 3

#: What the source needs on disk (for the loader's messages).
EXPECTED = "no files (generated in memory)"


def find(folder) -> list:
    """The synthetic dataset reads no files."""
    return []


def read(files, **options) -> ClickLog:
    """Generates the click log; ``files`` is ignored, ``options`` are :func:`generate`'s keyword arguments."""
    return generate(**options)


def generate(*, num_items: int = 2000, num_sessions: int = 20000, num_categories: int = 50, num_brands: int = 200,
             days: float = 60, session_length: int | None = None, seed: int = 0) -> ClickLog:
    """A synthetic click log (see the module docstring); raw session, item, category and brand ids are ints.

    Args:
        num_items: number of items (ids ``1..num_items``).
        num_sessions: number of sessions (ids ``1..num_sessions``, in order of their start).
        num_categories: number of categories (values ``1..num_categories``).
        num_brands: number of brands (values ``1..num_brands``).
        days: the span of the log; the ``session`` protocol's last 7 days hold about ``7 / days`` of the sessions.
        session_length: every session has exactly this many clicks (the scaling benchmarks' fixed lengths);
            ``None``: the log-normal lengths.
        seed: the seed; the same seed gives the same log.

    Raises:
        ConfigError: a size is not positive, there are fewer items than categories, or ``session_length < 2``.
    """
    _check(num_items=num_items, num_sessions=num_sessions, num_categories=num_categories, num_brands=num_brands,
           days=days)
    if session_length is not None and session_length < 2:
        raise ConfigError(f"synthetic: session_length must be at least 2 (a prefix and a target), got {session_length}")
    if num_items < num_categories:
        raise ConfigError(f"synthetic: num_items ({num_items}) must be at least num_categories ({num_categories})")
    rng = np.random.Generator(np.random.PCG64(seed))
    catalogue = _catalogue(rng, num_items, num_categories, num_brands)
    clicks = _sessions(rng, catalogue, num_sessions, session_length)  # [S, longest], -1 after the end
    mask = clicks >= 0
    lengths = mask.sum(1)
    gaps = rng.integers(MIN_GAP, MAX_GAP + 1, size=clicks.shape).astype(np.float64)
    gaps[:, 0] = np.sort(rng.uniform(0.0, days * DAY, size=num_sessions))  # session starts, chronological
    time = EPOCH + np.cumsum(gaps, axis=1)
    item_id = np.arange(1, num_items + 1)
    return ClickLog(
        session=np.repeat(np.arange(1, num_sessions + 1), lengths),
        item=item_id[clicks[mask]],
        time=time[mask],
        item_side={"category": pd.DataFrame({"item": item_id, "value": catalogue.category + 1}),
                   "brand": pd.DataFrame({"item": item_id, "value": catalogue.brand + 1})},
        item_text=pd.DataFrame({"item": item_id, "text": _item_text(rng, catalogue, num_categories, num_brands)}),
        path=f"synthetic(num_items={num_items}, num_sessions={num_sessions}, num_categories={num_categories}, "
             f"num_brands={num_brands}, days={days:g}, session_length={session_length}, seed={seed})")


class _GroupedSampler:
    """Draws a member of a group with probability proportional to its weight, for many groups at once.

    Members are sorted by group; ``cdf[k] = g + (cumulative weight of member k within group g) / (group total)``,
    so one ``searchsorted`` of ``g + u`` (``u`` uniform in ``[0, 1)``) finds a member of group ``g``.
    """

    def __init__(self, group: np.ndarray, weight: np.ndarray, num_groups: int):
        self.order = np.argsort(group, kind="stable")  # member positions, grouped
        group, weight = group[self.order], weight[self.order]
        self.end = np.cumsum(np.bincount(group, minlength=num_groups))
        self.start = self.end - np.bincount(group, minlength=num_groups)
        cumulative = np.cumsum(weight)
        before = np.concatenate([[0.0], cumulative])[self.start]  # total weight of the earlier groups
        total = (np.concatenate([[0.0], cumulative])[self.end] - before)[group]
        self.cdf = group + (cumulative - before[group]) / total
        self.cdf[self.end[self.end > self.start] - 1] = np.flatnonzero(self.end > self.start) + 1.0

    def __call__(self, group: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One member (an original position) per entry of ``group``; every group given must be non-empty."""
        k = np.searchsorted(self.cdf, group + u, side="right")
        return self.order[np.clip(k, self.start[group], self.end[group] - 1)]


class _Catalogue:
    """Items with their category and brand, the category chain, and the samplers the sessions draw from."""

    def __init__(self, category, brand, item_weight, category_mass, chain_target, chain_weight, num_brands):
        self.category, self.brand, self.num_brands = category, brand, num_brands
        num_categories = len(category_mass)
        self.any_category = _GroupedSampler(np.zeros(num_categories, dtype=np.int64), category_mass, 1)
        self.next_category = _GroupedSampler(np.repeat(np.arange(num_categories), chain_target.shape[1]),
                                             chain_weight.ravel(), num_categories)
        self.chain_target = chain_target.ravel()
        self.in_category = _GroupedSampler(category, item_weight, num_categories)
        pair = category * num_brands + brand
        self.pair_keys, pair_group = np.unique(pair, return_inverse=True)
        self.in_pair = _GroupedSampler(pair_group, item_weight, len(self.pair_keys))

    def pair_group(self, category: np.ndarray, brand: np.ndarray) -> np.ndarray:
        """The ``(category, brand)`` group of each pair, ``-1`` where the brand has no item in the category."""
        key = category * self.num_brands + brand
        k = np.minimum(np.searchsorted(self.pair_keys, key), len(self.pair_keys) - 1)
        return np.where(self.pair_keys[k] == key, k, -1)


def _catalogue(rng, num_items, num_categories, num_brands) -> _Catalogue:
    item_weight = 1.0 / (rng.permutation(num_items) + 1 + POPULARITY_OFFSET)
    category_weight = _zipf(rng, num_categories, GROUP_EXPONENT)
    # every category gets one item, the others are spread by the Zipf-like category sizes
    category = np.concatenate([np.arange(num_categories),
                               rng.choice(num_categories, num_items - num_categories, p=category_weight)])
    category = category[rng.permutation(num_items)]
    mass = np.bincount(category, weights=item_weight, minlength=num_categories)  # category popularity

    # brands: pairs (k mod B, k mod C) cover every brand and category, plus a few extra categories per brand
    k = np.arange(max(num_brands, num_categories))
    extra = rng.integers(0, MAX_EXTRA_CATEGORIES + 1, size=num_brands)
    pair_brand = np.concatenate([k % num_brands, np.repeat(np.arange(num_brands), extra)])
    pair_category = np.concatenate([k % num_categories,
                                    rng.choice(num_categories, int(extra.sum()), p=mass / mass.sum())])
    pairs = np.unique(pair_category * num_brands + pair_brand)
    brand_weight = _zipf(rng, num_brands, GROUP_EXPONENT)
    tied = _GroupedSampler(pairs // num_brands, brand_weight[pairs % num_brands], num_categories)
    brand = pairs[tied(category, rng.random(num_items))] % num_brands

    return _Catalogue(category, brand, item_weight, mass, *_chain(rng, mass), num_brands)


def _chain(rng, mass):
    """``[C, 1 + SUCCESSORS]`` targets and probabilities of the category chain (without the jumps): the category
    itself with ``STAY``, then its successors, drawn by popularity, sharing ``1 - STAY - JUMP``."""
    num_categories = len(mass)
    successors = min(SUCCESSORS, num_categories - 1)
    # successors without replacement and without the category itself: the top keys of Gumbel-perturbed log-mass
    keys = np.log(mass)[None, :] + rng.gumbel(size=(num_categories, num_categories))
    keys[np.arange(num_categories), np.arange(num_categories)] = -np.inf
    successor = np.argsort(-keys, axis=1)[:, :successors]
    share = -np.sort(-rng.dirichlet(np.full(max(successors, 1), 2.0), size=num_categories), axis=1)[:, :successors]
    target = np.concatenate([np.arange(num_categories)[:, None], successor], axis=1)
    stay = STAY if successors else 1.0 - JUMP
    weight = np.concatenate([np.full((num_categories, 1), stay), (1.0 - STAY - JUMP) * share], axis=1)
    return target, weight / (1.0 - JUMP)


def _sessions(rng, catalogue: _Catalogue, num_sessions, session_length=None) -> np.ndarray:
    """``[S, longest]`` item indices of every session (``-1`` after its end), generated position by position."""
    lengths = np.minimum(2 + np.floor(rng.lognormal(LENGTH_MU, LENGTH_SIGMA, size=num_sessions)).astype(np.int64),
                         MAX_LENGTH)
    if session_length is not None:
        lengths = np.full(num_sessions, session_length, dtype=np.int64)
    clicks = np.full((num_sessions, int(lengths.max())), -1, dtype=np.int64)
    category = catalogue.any_category(np.zeros(num_sessions, dtype=np.int64), rng.random(num_sessions))
    clicks[:, 0] = catalogue.in_category(category, rng.random(num_sessions))
    for t in range(1, clicks.shape[1]):
        rows = np.flatnonzero(lengths > t)
        previous = clicks[rows, t - 1]
        n = rows.size
        u_move, u_category, u_brand, u_item, u_return = (rng.random(n) for _ in range(5))
        follow = catalogue.chain_target[catalogue.next_category(catalogue.category[previous], u_category)]
        jump = catalogue.any_category(np.zeros(n, dtype=np.int64), u_category)
        category = np.where(u_move < JUMP, jump, follow)
        item = catalogue.in_category(category, u_item)
        pair = catalogue.pair_group(category, catalogue.brand[previous])
        same_brand = (u_brand < BRAND_AFFINITY) & (pair >= 0)
        item[same_brand] = catalogue.in_pair(pair[same_brand], u_item[same_brand])
        if t >= 2:
            back = u_return < RETURN
            earlier = np.floor(u_return[back] / RETURN * (t - 1)).astype(np.int64)  # 0 .. t-2
            item[back] = clicks[rows[back], earlier]
        clicks[rows, t] = item
    return clicks


def _item_text(rng, catalogue: _Catalogue, num_categories, num_brands) -> np.ndarray:
    words = _pseudo_words(rng, num_categories * (1 + _MODIFIERS) + num_brands)
    noun = words[:num_categories]
    modifier = words[num_categories:num_categories * (1 + _MODIFIERS)].reshape(num_categories, _MODIFIERS)
    brand_word = words[num_categories * (1 + _MODIFIERS):]
    n = len(catalogue.category)
    filler = _FILLERS[rng.choice(len(_FILLERS), size=(n, 2), replace=True)]
    parts = [brand_word[catalogue.brand], modifier[catalogue.category, rng.integers(0, _MODIFIERS, size=n)],
             noun[catalogue.category], filler[:, 0], filler[:, 1]]
    return pd.Series(parts[0]).str.cat([pd.Series(p) for p in parts[1:]], sep=" ").to_numpy()


def _pseudo_words(rng, count: int) -> np.ndarray:
    """``count`` distinct three-syllable pseudo-words (``"kalimo"``)."""
    words = np.empty(0, dtype=_SYLLABLES.dtype)
    while len(words) < count:
        syllables = _SYLLABLES[rng.integers(0, len(_SYLLABLES), size=(2 * count, 3))]
        drawn = np.char.add(np.char.add(syllables[:, 0], syllables[:, 1]), syllables[:, 2])
        words = pd.unique(np.concatenate([words, drawn]))
    return np.asarray(words[:count], dtype=str)


def _zipf(rng, n: int, exponent: float) -> np.ndarray:
    """Probabilities ``∝ (rank + 1)^-exponent`` over a random ranking of ``n`` things."""
    weight = (rng.permutation(n) + 2.0) ** -exponent
    return weight / weight.sum()


def _check(**sizes) -> None:
    bad = [f"{name}={value}" for name, value in sizes.items() if not value > 0]
    if bad:
        raise ConfigError(f"synthetic: {', '.join(bad)}; every size must be positive")
