"""The library's boundary: what ``import igos`` needs, and what a user of the core gets."""
from __future__ import annotations

import subprocess
import sys

#: Modules of the extras (plot, experiment, book); the core must work without any of them.
EXTRAS = ("matplotlib", "pandas", "yaml", "scipy", "ipywidgets")

CORE_SCRIPT = f"""
import sys
for name in {EXTRAS!r}:
    sys.modules[name] = None          # any import of it now raises ImportError
import torch, igos
data = igos.load_images("embedded", n=2)
model = igos.load_model("tiny_cnn", device="cpu")
x = torch.nn.functional.interpolate(data.images, size=32)
for name in igos.METHODS:
    assert name in igos.__all__, name
assert igos.gradient(model, x).shape == (2, 32, 32)
assert igos.deletion(model, x, igos.grad_cam(model, x), n_steps=8).shape == (2,)
print("core ok", igos.__version__)
"""


def test_core_works_without_the_extras(tmp_path):
    """Outside the clone's folder, with matplotlib, pandas, pyyaml, scipy and ipywidgets unavailable."""
    out = subprocess.run([sys.executable, "-c", CORE_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "core ok" in out.stdout


def test_import_igos_loads_neither_pyplot_nor_pandas(tmp_path):
    script = "import sys, igos; print(sorted(m for m in ('matplotlib.pyplot', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
