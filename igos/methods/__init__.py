"""Attribution methods, one paper per file, all with the same head::

    method(model, images, target=None, *, ...) -> saliency [N, h, w]

``METHODS`` maps registry names to the functions.
"""
from __future__ import annotations

from .excitation_backprop import excitation_backprop
from .grad_cam import grad_cam
from .grad_cam_plus import grad_cam_plus
from .grad_cam_plus_plus import grad_cam_plus_plus
from .gradient import gradient, gradient_x_input
from .i_gos import i_gos
from .integrated_gradients import integrated_gradients
from .mask import mask
from .rise import rise
from .rsi_grad_cam import rsi_grad_cam

METHODS = {
    "gradient": gradient,
    "gradient_x_input": gradient_x_input,
    "integrated_gradients": integrated_gradients,
    "grad_cam": grad_cam,
    "grad_cam_plus_plus": grad_cam_plus_plus,
    "grad_cam_plus": grad_cam_plus,
    "rsi_grad_cam": rsi_grad_cam,
    "rise": rise,
    "excitation_backprop": excitation_backprop,
    "i_gos": i_gos,
    "mask": mask,
}

__all__ = ["METHODS", "gradient", "gradient_x_input", "integrated_gradients", "grad_cam", "grad_cam_plus_plus",
           "grad_cam_plus", "rsi_grad_cam", "rise", "excitation_backprop", "i_gos", "mask"]
