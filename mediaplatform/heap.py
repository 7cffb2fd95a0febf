"""Short full garbage collections in the long-running server processes.

Once Django, DRF and the platform's modules are loaded, a web process tracks about 144,000 objects, and a
full (generation 2) collection walks every one of them: about 70 ms on a 2-core machine, holding the GIL, so
every thread of the process stalls and the requests it is serving queue behind the pause (bench/api.py saw
bursts of 30-100 ms answers at 300 requests/s). Those objects live as long as the process. Moved to the
permanent generation after start-up (gc.freeze), they are never walked again, and a full collection only
visits what was created since.
"""

import gc

from django.urls import get_resolver


def load_urls_and_freeze_heap() -> None:
    """Import every view now rather than at the first request, then freeze what the process holds."""
    resolver = get_resolver()
    resolver.url_patterns  # noqa: B018 - imports the URLconf and, through it, every view module
    resolver.reverse_dict  # noqa: B018 - built once per process on the first reverse(); build it before freezing
    gc.collect()
    gc.freeze()
