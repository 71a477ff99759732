"""Query vectors kept between searches.

A shopper's words are encoded again for every page turn, filter or facet click, and popular
queries come back all day; their vectors depend only on the words and the models, so one
deployment keeps the most recently used ones (``VITRINE_QUERY_CACHE`` entries per kind of
vector; 0 turns the cache off). A key names the model that made the vector, so a retrained
fusion head never meets its predecessor's vectors.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float32]


class QueryVectors:
    """A bounded least-recently-used map of query keys to vectors, safe to share between
    request threads (a vector two threads miss at once is computed twice, not waited for)."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._lock = threading.Lock()
        self._vectors: OrderedDict[Hashable, Vector] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], Vector]) -> Vector:
        """The vector stored under ``key``, else ``compute()``'s (stored read-only)."""
        if self.size == 0:
            return compute()
        with self._lock:
            found = self._vectors.get(key)
            if found is not None:
                self._vectors.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        vector = np.array(compute(), dtype=np.float32)
        vector.setflags(write=False)
        with self._lock:
            self._vectors[key] = vector
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        return vector

    def __len__(self) -> int:
        with self._lock:
            return len(self._vectors)
