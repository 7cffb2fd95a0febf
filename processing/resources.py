"""Measuring what a job costs the worker: peak memory, CPU share, GPU memory."""

import time

import psutil


class ResourceMonitor:
    """Sampled by the job at each batch; cheap enough to call often."""

    def __init__(self, device: str = "cpu"):
        self._process = psutil.Process()
        self._device = device
        self._started_wall = time.monotonic()
        times = self._process.cpu_times()
        self._started_cpu = times.user + times.system
        self.peak_rss_bytes = self._process.memory_info().rss
        if device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(device)

    def sample(self) -> None:
        self.peak_rss_bytes = max(self.peak_rss_bytes, self._process.memory_info().rss)

    @property
    def peak_memory_mb(self) -> float:
        return round(self.peak_rss_bytes / 1024**2, 1)

    @property
    def cpu_percent(self) -> float:
        """CPU time over wall time since the start, in percent of one core."""
        times = self._process.cpu_times()
        wall = max(time.monotonic() - self._started_wall, 1e-6)
        return round(100.0 * (times.user + times.system - self._started_cpu) / wall, 1)

    @property
    def gpu_memory_mb(self) -> float | None:
        if not self._device.startswith("cuda"):
            return None
        import torch

        return round(torch.cuda.max_memory_allocated(self._device) / 1024**2, 1)
