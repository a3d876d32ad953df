"""ezpz_core: job discovery, launch plans and (later) runs for distributed PyTorch.

The core never imports Textual, torch, wandb or mpi4py at import time: it must stay
fast on login nodes and usable without the console.
"""

__version__ = "0.1.0"
