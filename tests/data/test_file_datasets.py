"""Split-file datasets through the streaming path: JPEGs decoded by torchvision in DataLoader workers,
the 224-px recipes (here at 32 px), used as the split files define them; the ImageNet-LT finetune
config runs an epoch on a miniature tree from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import CONFIGS
from formats import write_split_files
from imbsemi.checkpoints import read_checkpoint
from imbsemi.cli import finetune
from imbsemi.cli import main as imbsemi_main
from imbsemi.config import FinetuneConfig, SSPConfig
from imbsemi.config_files import load_config
from imbsemi.data.datamodule import LTDataModule, TrainSpec
from imbsemi.data.file_loader import FileDataset, eval_transform, file_train_loader
from imbsemi.data.file_dataset_splits import FileSplits
from imbsemi.data.files import FileRecipe
from imbsemi.data.loader import eval_loader
from imbsemi.errors import ConfigError, DataError
from imbsemi.stages import run_finetune, run_ssp
from imbsemi.stages.data import data_summary, write_training_shards

COUNTS = {"train": [24, 10, 4], "val": [3, 3, 3], "test": [4, 4, 4]}
SMALL = ["data.augment.crop_size=32", "data.augment.resize=36", "data.workers=0"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imagenet_lt")
    write_split_files(root, COUNTS, size=40)
    return root


def imagenet_lt(tree: Path, *overrides: str) -> FinetuneConfig:
    return load_config(FinetuneConfig, CONFIGS / "finetune/ce_uniform_imagenet_lt.yaml",
                       [f"data.root={tree}", *SMALL, *overrides])


def test_splits_are_the_files_as_they_are_in_either_format(tree: Path) -> None:
    splits = FileSplits(imagenet_lt(tree).data, seed=0)
    assert splits.counts == [24, 10, 4] and splits.num_classes == 3 and len(splits.test) == 12
    assert splits.labeled.image_shape == (32, 32, 3) and splits.mean == (0.485, 0.456, 0.406)
    manifest = splits.manifest()
    assert manifest["labeled"]["split_file"] == str(tree / "ImageNet_LT_train.txt")
    assert len(manifest["labeled"]["split_file_sha256"]) == 64 and manifest["validation"]["class_counts"] == [3, 3, 3]
    json_splits = FileSplits(load_config(FinetuneConfig, CONFIGS / "finetune/ce_uniform_inat2018.yaml", [
        f"data.root={tree}", *SMALL, "data.splits={train: train2018.json, val: val2018.json, test: test2018.json}"]
    ).data, seed=0)
    assert json_splits.counts == [24, 10, 4] and json_splits.labeled.classes[2] == "species 2"
    assert json_splits.labeled.fingerprint() == splits.labeled.fingerprint()  # same files, same labels
    assert json_splits.mean == (0.466, 0.471, 0.380)


def test_served_batches_follow_the_recipe_and_are_a_function_of_seed_and_epoch(tree: Path) -> None:
    splits = FileSplits(imagenet_lt(tree).data, seed=0)
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    passes = []
    for workers in (0, 2):
        files = splits.labeled.subset(np.arange(12))
        files = type(files)(**{**files.__dict__, "recipe": FileRecipe(32, 36, 0.5, 0.4, True, workers)})
        loader = file_train_loader(files, 5, mean, std, seed=3, epoch=1)
        passes.append([(x.clone(), y.clone()) for x, y in loader])
    for (x0, y0), (x2, y2) in zip(*passes):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)
    x, y = passes[0][0]
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert sorted(torch.cat([batch[1] for batch in passes[0]]).tolist()) == [0] * 12  # the first 12 are class 0
    evaluated = list(eval_loader(splits.test, mean, std, "cpu", batch_size=5))
    assert [len(batch[1]) for batch in evaluated] == [5, 5, 2]
    image = FileDataset(splits.test, eval_transform(splits.test.recipe, mean, std))[0][0]
    assert torch.equal(image, evaluated[0][0][0]) and image.shape == (3, 32, 32)


@pytest.mark.slow  # a command-line run on decoded files, ~12 s
def test_imagenet_lt_finetune_runs_an_epoch_from_the_command_line(tree: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    argv = ["--config", str(CONFIGS / "finetune/ce_uniform_imagenet_lt.yaml"), f"data.root={tree}", *SMALL,
            "data.workers=2", "epochs=1", "optim.batch_size=8", "optim.lr=0.01", "trainer.enable_progress_bar=false",
            f"out_dir={tmp_path}", "name=lt"]
    assert finetune.main(argv) == 0
    folder = tmp_path / "finetune" / "lt"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["train_size"] == 38 and metrics["labeled_counts"] == [24, 10, 4]
    assert sum(map(sum, metrics["test"]["confusion"])) == 12 and 0 <= metrics["test"]["acc"] <= 1
    assert json.loads((folder / "data_manifest.json").read_text())["test"]["size"] == 12
    assert f"model -> {folder / 'model.pt'}" in capsys.readouterr().out


def test_split_file_sources_refuse_what_they_cannot_do(tree: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="data.loader = device: split-file sources .* set data.loader: torch"):
        FileSplits(imagenet_lt(tree, "data.loader=device").data, seed=0)
    with pytest.raises(ConfigError, match="data.rho .*imagenet_lt is a split-file dataset"):
        imagenet_lt(tree, "data.rho=10")
    with pytest.raises(ConfigError, match="data.splits.train has no effect .*only split-file sources"):
        load_config(SSPConfig, CONFIGS / "ssp/rotation_digits.yaml", ["data.splits={train: a.txt}"])
    with pytest.raises(ConfigError, match="s3://bucket/lt: shards are written to a local folder"):
        write_training_shards(imagenet_lt(tree, "data.shards=s3://bucket/lt"))
    with pytest.raises(DataError, match="has no unlabeled pool"):
        _ = FileSplits(imagenet_lt(tree).data, seed=0).pool
    broken = tmp_path / "broken"
    write_split_files(broken, {"train": [2, 2], "val": [1, 1], "test": [1, 1]}, size=8)
    (broken / "train/c1/0.jpg").write_bytes(b"not a jpeg")
    splits = FileSplits(imagenet_lt(broken).data, seed=0)
    with pytest.raises(DataError, match=r"ImageNet_LT_train.txt line 3: image .*c1/0.jpg cannot be read or decoded"):
        list(file_train_loader(splits.labeled, 4, (0.5,) * 3, (0.5,) * 3, seed=0))
    argv = ["--config", str(CONFIGS / "finetune/ce_uniform_imagenet_lt.yaml"), f"data.root={broken}", *SMALL,
            "data.workers=1", "epochs=1", f"out_dir={tmp_path / 'runs'}"]
    assert finetune.main(argv) == 2  # decoded in a worker process: still one line
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {broken / 'ImageNet_LT_train.txt'} line 3: image {broken / 'train/c1/0.jpg'} "
                          "cannot be read or decoded") and "\n" not in err and "Traceback" not in err
    (broken / "val/c0/0.jpg").unlink()
    with pytest.raises(DataError, match=r"ImageNet_LT_val.txt line 1: image .*val/c0/0.jpg does not exist"):
        FileSplits(imagenet_lt(broken).data, seed=0)


def test_data_summary_lists_the_split_files_counts(tree: Path) -> None:
    rows = data_summary(imagenet_lt(tree))
    assert rows[0].startswith(f"imagenet_lt: split files {tree / 'ImageNet_LT_train.txt'}")
    assert rows[2:6] == [f"{'0':<8}{4:>12}{3:>12}{24:>12}", f"{'1':<8}{4:>12}{3:>12}{10:>12}",
                         f"{'2':<8}{4:>12}{3:>12}{4:>12}", f"{'total':<8}{12:>12}{9:>12}{38:>12}"]


@pytest.mark.slow
def test_moco_v2_pretrains_on_the_files_and_cRT_tau_norm_follow_ce(tree: Path, tmp_path: Path) -> None:
    common = [f"data.root={tree}", *SMALL, "epochs=1", "optim.batch_size=8", "trainer.enable_progress_bar=false",
              f"out_dir={tmp_path}"]
    ssp = run_ssp(load_config(SSPConfig, CONFIGS / "ssp/moco_v2_imagenet_lt.yaml",
                              [*common, "method.kwargs.memory_bank_size=64", "name=moco"]))
    assert read_checkpoint(ssp.paths["backbone"])["arch"] == "resnet50" and 0 <= ssp.metrics["last_knn_acc"] <= 1
    ce = run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune/ce_uniform_imagenet_lt.yaml",
                                  [*common, "optim.lr=0.01", "name=ce", f"init={ssp.paths['backbone']}"]))
    assert ce.metrics["init"]["report"].startswith("imbsemi layout: backbone 318/318 tensors loaded")
    for relative in ("crt_imagenet_lt.yaml", "tau_norm_imagenet_lt.yaml"):
        after = run_finetune(load_config(FinetuneConfig, CONFIGS / "finetune" / relative,
                                         [*common, f"name={relative}", f"init={ce.paths['model']}"]))
        assert sum(map(sum, after.metrics["test"]["confusion"])) == 12
    assert after.metrics["tau"] in [round(0.1 * i, 1) for i in range(21)]  # picked on val


@pytest.mark.slow  # writes and streams litdata shards, ~13 s
def test_litdata_shards_stream_the_training_split_once_written(tree: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    shards = tmp_path / "shards"
    common = ["--config", str(CONFIGS / "finetune/ce_uniform_imagenet_lt.yaml"), f"data.root={tree}", *SMALL,
              "data.loader=litdata", f"data.shards={shards}"]
    argv = [*common, "epochs=1", "optim.batch_size=8", "optim.lr=0.01", "model.arch=resnet18",
            "trainer.enable_progress_bar=false", f"out_dir={tmp_path}", "name=streamed"]
    assert finetune.main(argv) == 2
    assert "data.shards = " + str(shards) + ": no shards there; write them with `imbsemi data shards" in \
        capsys.readouterr().err
    assert imbsemi_main.main(["data", "shards", *common, "--workers", "1"]) == 0
    assert f"(38 images) -> {shards}" in capsys.readouterr().out
    splits = FileSplits(imagenet_lt(tree, "data.loader=litdata", f"data.shards={shards}").data, seed=0)
    loader = LTDataModule(splits, TrainSpec(batch_size=8)).train_dataloader()
    epochs = [[(x.clone(), y.clone()) for x, y in loader] for _ in range(2)]
    served = torch.cat([y for _, y in epochs[0]])
    assert sorted(served.tolist()) == sorted(splits.labeled.targets.tolist())  # every image once per epoch
    assert epochs[0][0][0].shape == (8, 3, 32, 32)
    assert not torch.equal(torch.cat([x for x, _ in epochs[0]]), torch.cat([x for x, _ in epochs[1]]))
    # a run resumed at epoch 1, streamed by a (persistent) worker process, is served the same batches
    in_worker = FileSplits(imagenet_lt(tree, "data.loader=litdata", f"data.shards={shards}", "data.workers=1").data, 0)
    again = LTDataModule(in_worker, TrainSpec(batch_size=8))._shard_loader(epoch=1)
    for (x, y), (x_again, y_again) in zip(epochs[1], again):
        assert torch.equal(x, x_again) and torch.equal(y, y_again)
    assert finetune.main(argv) == 0
    assert json.loads((tmp_path / "finetune/streamed/metrics.json").read_text())["train_size"] == 38
