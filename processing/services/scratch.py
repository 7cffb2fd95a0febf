"""What a worker killed mid-job leaves on its host's disk, removed when a worker starts there."""

import logging

from processing.weights_cache import weights_cache_sweep
from videos import media_store

logger = logging.getLogger(__name__)


def worker_leftovers_sweep() -> int:
    """Remove the scratch folders (source copies, playback and annotated files being made) and the partial
    weights copies of processes on this host that no longer run. Never raises: a worker starts regardless."""
    removed = 0
    for sweep in (media_store.scratch_sweep, weights_cache_sweep):
        try:
            removed += sweep()
        except Exception:
            logger.exception("could not sweep leftovers (%s)", sweep.__name__)
    if removed:
        logger.info("removed %s leftover(s) of killed workers", removed)
    return removed
