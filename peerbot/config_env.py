"""Where peerbot's settings come from: the process environment over a `.env` file.

The one place the environment is read for settings. It imports nothing but the standard
library (python-dotenv only when a `.env` file exists), so that the idle probe of
`peerbot jobs run-due` (:mod:`peerbot.scheduling.idle_probe`) can read the settings it needs
without importing pydantic; :class:`peerbot.config.Settings` reads every value through
:func:`read_env` too, so both always see the same values.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

__all__ = ["AmbiguousSetting", "read_env"]

#: The file read beside the environment (in the working directory), as ``Settings`` says.
ENV_FILE = ".env"


class AmbiguousSetting(ValueError):
    """A setting set twice in the environment, in different cases, to different values."""


def read_env(
    names: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    env_file: str = ENV_FILE,
) -> dict[str, str]:
    """The raw settings by lower-cased name: ``env_file`` (when it exists) and, over it, the
    environment (``environ``, default the process's). Names are not case-sensitive.

    ``names``: the (lower-case) settings wanted (default: everything). Raises
    :class:`AmbiguousSetting` when one of them is set twice in the environment in different
    cases with different values (which one wins would be an accident of ordering)."""
    wanted = None if names is None else {n.lower() for n in names}
    values: dict[str, str] = {}
    if env_file and os.path.exists(env_file):
        from dotenv import dotenv_values  # what pydantic-settings reads .env with

        for key, value in dotenv_values(env_file, encoding="utf-8").items():
            low = key.lower()
            if value is not None and (wanted is None or low in wanted):
                values[low] = value
    found: dict[str, str] = {}
    for key, value in (os.environ if environ is None else environ).items():
        low = key.lower()
        if wanted is not None and low not in wanted:
            continue
        if low in found and found[low] != value:
            raise AmbiguousSetting(f"{low.upper()} is set twice in different cases")
        found[low] = value
    values.update(found)
    return values
