"""Where datasets are cached: ``$STRUCTNOISE_DATA``, else pooch's per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the data cache folder.
DATA_ENV = "STRUCTNOISE_DATA"


def data_dir() -> Path:
    """The folder where downloads and built datasets are cached.

    ``$STRUCTNOISE_DATA`` when set, else ``pooch.os_cache("structnoise")`` (e.g.
    ``~/.cache/structnoise`` on Linux). Read at every call, so changing the variable takes
    effect immediately. The folder is not created here.

    Returns
    -------
    pathlib.Path
        The cache folder.
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("structnoise"))
