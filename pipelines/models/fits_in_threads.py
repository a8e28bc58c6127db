"""Independent model fits side by side, in threads of one process.

The fits spend their time in NumPy and SciPy, which let go of Python's lock while they compute, so two threads keep
two cores busy where one thread left one idle (the build's DuckDB work is done by the time the models run). Each
fit works on arrays of its own and only reads what the fits share (the panel, the design, the risk sets), so no
object is written by two threads; the results come back in the order of the inputs, as a loop would give them.

The threads are the parallelism, so BLAS (the matrix products inside each fit) is held to one thread of its own
while the models run (`one_blas_thread`). That also makes every fitted figure independent of the machine's core
count: a product split over n BLAS threads adds its partial sums in an order that depends on n, which moves the
last bits of a coefficient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from threadpoolctl import threadpool_limits

from ..settings import MODEL_FIT_THREADS

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_threads(fit: Callable[[Item], Result], items: Iterable[Item], threads: int | None = None) -> list[Result]:
    """[fit(item) for item in items], up to `threads` at a time (the setting when None); the error of the first item
    that raised is raised here, once every fit has ended."""
    items = list(items)
    threads = MODEL_FIT_THREADS if threads is None else threads
    if threads <= 1 or len(items) <= 1:
        return [fit(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="model-fit") as pool:
        return list(pool.map(fit, items))


@contextmanager
def alongside(work: Callable[[], Result]) -> Iterator[Callable[[], Result]]:
    """Run `work` in a thread of its own while the block runs. The block gets a function that waits for its result
    (or raises its error); leaving the block waits for the work to end either way."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-fit") as pool:
        yield pool.submit(work).result


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread within the block (process-wide: BLAS has one setting for every thread), as it was after."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield
