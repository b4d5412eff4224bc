from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core CPU: thread hand-offs cost more than the arithmetic
    (measured ~10x), so torch-training modules run on one thread, restored afterwards.

    Not autouse: torch is imported only by the modules that ask for it, so the runtime's
    no-torch checks see a clean interpreter."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def bundle():
    """The shipped demo bundle (modules that test another bundle override ``bundle``)."""
    from edge_emotion.bundle import DEMO_BUNDLE_PATH, load_bundle

    return load_bundle(DEMO_BUNDLE_PATH)


@pytest.fixture(scope="session")
def engine(bundle):
    """onnxruntime on the demo bundle, created once for the runtime tests."""
    from edge_emotion.engines import create_engine

    return create_engine(bundle, "onnxruntime")
