"""Model registry: name -> factory(num_classes, in_channels, use_norm)."""
from imbsemi.models.bbn import resnet32_bbn
from imbsemi.models.resnet_cifar import HEAD_KEYS, resnet20, resnet32, resnet44, resnet56, resnet110
from imbsemi.models.resnet_imagenet import resnet18, resnet50, resnext50
from imbsemi.models.wide_resnet import wrn28_2, wrn28_8

MODELS = {
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet32_bbn": resnet32_bbn,
    "resnet44": resnet44,
    "resnet56": resnet56,
    "resnet110": resnet110,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "resnext50": resnext50,
    "wrn28_2": wrn28_2,
    "wrn28_8": wrn28_8,
}

__all__ = ["HEAD_KEYS", "MODELS"]
