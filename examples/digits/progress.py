"""A progress line for the training loop: steps done, rate and time left
(no dependency; one plain line per call, so logs and pipes stay readable)."""

import time


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Rate and ETA over the whole run: the rate is steps per second of wall
    time since the first step began (so time spent evaluating between epochs
    counts too, as it will in what is left)."""

    def __init__(self, total_steps: int):
        self.total = total_steps
        self.start = time.monotonic()

    def line(self, step: int) -> str:
        elapsed = time.monotonic() - self.start
        rate = step / elapsed if elapsed > 0 else 0.0
        left = (self.total - step) / rate if rate > 0 else float("inf")
        eta = format_duration(left) if left != float("inf") else "?"
        return (f"step {step}/{self.total} ({100 * step / self.total:.0f}%), {rate:.2f} steps/s, "
                f"elapsed {format_duration(elapsed)}, ETA {eta}")
