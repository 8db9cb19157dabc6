"""Command-line entry points: ssp_pretrain, finetune, imbsemi."""
