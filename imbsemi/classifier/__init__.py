"""Stages 2 and 3: classifier training, pseudo-labelling and self-training."""
