"""kNN evaluation: features at the end of the network or of a stage, and the weighted vote."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from imbsemi.models import MODELS
from imbsemi.ssl.knn import check_layer, embed, knn_accuracy, pooled_features


def test_stage_features_are_the_normalised_spatial_mean_of_that_stage() -> None:
    torch.manual_seed(0)
    model = MODELS["resnet20"](10).eval()
    images = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        stage2 = model.layer2(model.layer1(F.relu(model.bn1(model.conv1(images)))))
        expected = F.normalize(stage2.mean((2, 3)), dim=1)
        assert pooled_features(model, images, "layer2").shape == (5, 32)
        assert torch.allclose(pooled_features(model, images, "layer2"), expected, atol=1e-6)
        assert torch.allclose(pooled_features(model, images), F.normalize(model.features(images), dim=1))
    assert not model.layer2._forward_hooks  # the hook is removed again


def test_knn_vote_on_a_hand_computed_case() -> None:
    bank = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=1)
    bank_labels = torch.tensor([0, 0, 1])
    queries = F.normalize(torch.tensor([[1.0, 0.05], [0.1, 1.0], [0.6, 0.8]]), dim=1)
    # k = 1: nearest rows are 0, 2 and 2 -> classes 0, 1, 1; the labels say 0, 1, 0
    assert knn_accuracy(queries, torch.tensor([0, 1, 0]), bank, bank_labels, 2, 1, 0.1) == pytest.approx(2 / 3)
    # k = 3, T = 1: the third query's class-0 weight e^0.6 + e^0.68 (about 3.81) beats e^0.8 (2.23)
    assert knn_accuracy(queries, torch.tensor([0, 1, 0]), bank, bank_labels, 2, 3, 1.0) == pytest.approx(1.0)
    # k larger than the bank: all 3 rows vote, as with k = 3
    assert knn_accuracy(queries, torch.tensor([0, 1, 0]), bank, bank_labels, 2, 20, 1.0) == pytest.approx(1.0)


def test_embed_concatenates_batches_in_order() -> None:
    torch.manual_seed(0)
    model = MODELS["resnet20"](10).eval()
    images = torch.randn(6, 3, 8, 8)
    features, labels = embed(model, [(images[:4], torch.arange(4)), (images[4:], torch.arange(4, 6))])
    assert torch.equal(labels, torch.arange(6))
    assert torch.allclose(features, pooled_features(model, images), atol=1e-6)


def test_unknown_layer_names_the_layers_there_are() -> None:
    with pytest.raises(ValueError, match="knn.layer = 'layer9': ResNetCifar has no such submodule; its top-level "
                                         "modules are conv1, bn1, layer1, layer2, layer3, fc"):
        check_layer(MODELS["resnet20"](10), "layer9")


def test_knn_monitor_logs_the_eval_mode_vote_on_its_epochs() -> None:
    """every=2 over 3 epochs: logged after epochs 2 and 3 (the last), equal to the vote of the bank
    embedded in eval mode at that moment; the backbone is back in train mode afterwards."""
    import numpy as np
    import pytorch_lightning as pl

    from imbsemi.config import OptimConfig
    from imbsemi.data.arrays import ImageArrays, Provenance
    from imbsemi.data.augment import CropFlipTransform, Standardize
    from imbsemi.data.loader import DeviceLoader
    from imbsemi.ssl.base import SSLTraining
    from imbsemi.ssl.knn import KNNMonitor
    from imbsemi.ssl.rotation import RotationSSL

    rng = np.random.default_rng(0)

    def arrays(n: int) -> ImageArrays:
        return ImageArrays(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 3, ("a", "b", "c"),
                           Provenance.single("toy", np.arange(n)))
    bank, query = arrays(12), arrays(9)
    half = (0.5, 0.5, 0.5)
    torch.manual_seed(0)
    module = RotationSSL(SSLTraining(lambda n: MODELS["resnet20"](n), OptimConfig(batch_size=4, warmup_epochs=0), 3))
    seen: list[tuple[int, float | None, float, bool]] = []

    class Expected(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: RotationSSL) -> None:
            training = pl_module.backbone.training
            pl_module.backbone.eval()
            stats = Standardize(torch.tensor(half), torch.tensor(half))
            b, bl = embed(pl_module.backbone, DeviceLoader(bank, 512, stats), "layer2")
            q, ql = embed(pl_module.backbone, DeviceLoader(query, 512, stats), "layer2")
            pl_module.backbone.train(training)
            logged = trainer.callback_metrics.get("val/knn_acc")
            seen.append((trainer.current_epoch + 1, None if logged is None else float(logged),
                         knn_accuracy(q, ql, b, bl, 3, 5, 0.1), training))

    trainer = pl.Trainer(max_epochs=3, limit_train_batches=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[KNNMonitor(bank, query, half, half, every=2, k=5, layer="layer2"), Expected()])
    loader = DeviceLoader(query, 4, CropFlipTransform(torch.tensor(half), torch.tensor(half), 1, True), shuffle=True)
    trainer.fit(module, train_dataloaders=loader)
    assert [(epoch, logged is None) for epoch, logged, _, _ in seen] == [(1, True), (2, False), (3, False)]
    assert all(logged == pytest.approx(expected) for _, logged, expected, _ in seen[1:])
    assert all(training for *_, training in seen)
