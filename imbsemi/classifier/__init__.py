"""Stages 2 and 3: classifier training, pseudo-labelling and self-training. CLASSIFIER_METHODS: the
training methods, ClassifierModule and its subclasses."""
from imbsemi.classifier.bbn import BBN
from imbsemi.classifier.meta_weight_net import MetaWeightNet
from imbsemi.classifier.module import ClassifierModule

CLASSIFIER_METHODS = {
    "standard": ClassifierModule,
    "meta_weight_net": MetaWeightNet,
    "bbn": BBN,
}

__all__ = ["CLASSIFIER_METHODS"]
