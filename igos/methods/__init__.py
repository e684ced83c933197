"""Attribution methods, one paper per file, all with the same head::

    method(model, images, target=None, *, ...) -> saliency [N, h, w]

``METHODS`` maps registry names to the functions.
"""
from __future__ import annotations

from .gradient import gradient, gradient_x_input
from .i_gos import i_gos
from .mask import mask

METHODS = {
    "gradient": gradient,
    "gradient_x_input": gradient_x_input,
    "i_gos": i_gos,
    "mask": mask,
}

__all__ = ["METHODS", "gradient", "gradient_x_input", "i_gos", "mask"]
