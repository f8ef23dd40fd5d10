import pytest
import torch

import rnnt_ops  # noqa: F401  (builds and loads the ops once per session)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
