"""igos: I-GOS, Integrated Gradients, Grad-CAM and relatives for CNN image classifiers.

The flat public API. Every method has the same head::

    saliency = igos.<method>(model, images, target=None, *, ...)   # [N, h, w]

where ``model`` comes from :func:`load_model` (images in [0, 1], logits out) and
``images`` is ``[N, 3, H, W]`` in [0, 1]. See :mod:`igos.types` for the glossary.
"""
from __future__ import annotations

from . import data, metrics, plotting, methods as _methods
from .baselines import blur, make_baseline
from .data import ImageSet, load_images
from .devices import device_name, resolve_device
from .layers import capture, get_layer, preserved
from .metrics import deletion, deletion_curve, insertion, insertion_curve, pointing_game
from .methods import (METHODS, REGISTRY, excitation_backprop, grad_cam, grad_cam_plus, grad_cam_plus_plus, gradient,
                      gradient_x_input, i_gos, integrated_gradients, mask, meaningful_perturbation, rise, rsi_grad_cam)
from .methods.integrated_gradients import completeness_gap
from .methods.rsi_grad_cam import layer_completeness_gap
from .models import MODELS, ImageClassifier, imagenet_classes, load_model, wrap
from .plotting import upsample
from .targets import as_target, predict

try:
    from importlib.metadata import PackageNotFoundError, version as _version

    __version__ = _version("igos")
except PackageNotFoundError:     # imported from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def explain(model, images, target=None, method: str = "gradient", **options):
    """Run the method registered as ``method`` (a name of :data:`METHODS`, or an alias such as ``"mask"``) -> ``[N, h, w]``."""
    return _methods.get(method)(model, images, target, **options)


__all__ = ["METHODS", "MODELS", "REGISTRY", "ImageClassifier", "ImageSet", "as_target", "blur", "capture", "completeness_gap", "data", "device_name",
           "deletion", "deletion_curve", "explain", "get_layer", "imagenet_classes", "insertion", "insertion_curve", "layer_completeness_gap",
           "load_images", "load_model", "make_baseline", "metrics", "plotting", "pointing_game",
           "predict", "preserved", "resolve_device", "upsample", "wrap",
           "excitation_backprop", "grad_cam", "grad_cam_plus", "grad_cam_plus_plus", "gradient", "gradient_x_input",
           "i_gos", "integrated_gradients", "mask", "meaningful_perturbation", "rise", "rsi_grad_cam"]   # the methods
