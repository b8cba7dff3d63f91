"""A fixture running a test module's tiny models on one torch thread.

Tiny models run fastest on one thread, and on a shared 2-core machine torch's thread barriers stall
whenever another process holds a core: training steps then take seconds instead of milliseconds.
Import ``one_torch_thread`` into a test module to apply it there.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
