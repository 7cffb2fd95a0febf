"""Running coroutines from sync tests that may share the thread with Playwright's event loop."""

import asyncio
from concurrent.futures import ThreadPoolExecutor


def run_in_own_loop(coroutine):
    """Run a coroutine on a fresh thread's event loop.

    Playwright's sync API (tests/browser) keeps an event loop on the main thread for the whole session;
    asyncio.run and async_to_sync both refuse to run beside it.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
