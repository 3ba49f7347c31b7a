"""Logging set-up: plain text for people, JSON lines for log pipelines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from peerbot.config import LogFormat

_RESERVED = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, extras and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a JSON line."""
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: LogFormat = LogFormat.TEXT) -> None:
    """Configure the root logger once for the process."""
    handler = logging.StreamHandler()
    if fmt is LogFormat.JSON:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter stays at WARNING unless we debug.
    global _quiet_bars
    _quiet_bars = level != "DEBUG"
    if _quiet_bars:
        if "huggingface_hub" in sys.modules or "transformers" in sys.modules:
            _disable_progress_bars()
        for noisy in (
            "urllib3",
            "sentence_transformers",
            "transformers",
            "apscheduler",
            "alembic",  # a dozen plugin and context lines on every migrate and start-up
        ):
            logging.getLogger(noisy).setLevel(logging.WARNING)


#: Set by :func:`configure_logging`: no progress bars when the model loads (unless DEBUG).
_quiet_bars = False


def quiet_model_loading() -> None:
    """Called before the embedding model loads: no progress bars unless logging is at DEBUG.
    (Not at :func:`configure_logging` unless the hub is loaded already: a command that loads
    no model, such as the cron tick, then does not import it.)"""
    if _quiet_bars:
        _disable_progress_bars()


def _disable_progress_bars() -> None:
    """No tqdm bars (the model loader's "Loading weights", hub downloads): they are not log lines.

    transformers takes its initial state from huggingface_hub's when it is first imported (lazily,
    after this); if it is already imported, it is told directly.
    """
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        transformers_logging.disable_progress_bar()
