"""marches: read, validate, package and publish French public procurement data (DECP)."""

import os

# polars allocates with jemalloc, which by default keeps the pages it freed (polars sets
# muzzy_decay_ms:-1): batch after batch, the memory of work already done stayed counted in the
# process (validate + package of 1.5 M contracts: 2.5 GB instead of about 1 GB). Freed pages are given
# back at once; read by jemalloc when polars is first loaded, so only if marches is imported first,
# and never over a setting of the user's (https://github.com/pola-rs/polars/issues/23128).
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

__version__ = "0.1.0"
