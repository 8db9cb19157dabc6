#!/bin/bash
# MoCo v2 pre-training, then CE(Uniform) + SSP, on ImageNet-LT over 2 nodes x 8 GPUs (spec §10.3):
#     DATA=/data/imagenet sbatch experiments/slurm_imagenet_lt.sh
# srun starts one task per GPU; Lightning reads the ranks from SLURM. The global batch is the paper's
# 128 = 16 GPUs x 8. The training split is streamed from litdata shards, written once by one task.
#SBATCH --job-name=imbsemi-imagenet-lt
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=12
#SBATCH --time=48:00:00
set -euo pipefail
DATA=${DATA:-/data/imagenet}
RUNS=${RUNS:-runs}
DDP=(data.root="$DATA" data.loader=litdata data.workers=10 optim.batch_size=8 trainer.devices=8 trainer.num_nodes=2
     trainer.strategy=ddp out_dir="$RUNS")

srun --nodes=1 --ntasks=1 imbsemi data shards --config configs/imagenet_lt_data.yaml data.root="$DATA" --workers 12
srun ssp_pretrain --config configs/ssp/moco_v2_imagenet_lt.yaml "${DDP[@]}" name=moco_v2
srun finetune --config configs/finetune/ce_uniform_imagenet_lt.yaml "${DDP[@]}" name=ce_uniform_ssp \
    init="$RUNS/ssp/moco_v2/backbone.pt"
