"""``faceprint train``: fine-tune (or train from scratch) an Inception-ResNet-v1 on a
``<person>/<image>`` folder, with checkpoints, resume, mixed precision and DistributedDataParallel.

A run folder holds everything: ``crops/`` (the aligned faces, a cache), ``checkpoint.pt``
(written atomically after every epoch), ``metrics.csv``, ``curves.png``, ``summary.json`` and
``model.pt``, a faceprint model file that every command accepts as ``--model``.

Frozen blocks run once: when the first blocks are frozen (the default for fine-tuning), their
output for each crop is computed once, in eval mode, and the epochs train the remaining blocks
on it. That is exact (frozen blocks in eval mode give the same output every epoch) and is where
most of the speed over facenet-pytorch's recipe comes from.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from faceprint.alignment import Alignment
from faceprint.errors import DatasetError, TrainingError, listed
from faceprint.evaluation.verification import impostor_quantiles
from faceprint.extras import require
from faceprint.files import atomic_path
from faceprint.models.inception_resnet_v1 import InceptionResnetV1
from faceprint.training.data import (
    CropDataset,
    FaceFolder,
    crop_tree,
    match_classes,
    scan_folder,
    split_per_class,
)
from faceprint.training.objectives import LOSSES, make_objective
from faceprint.weights.calibration import distance_at_far
from faceprint.weights.factory import create_model, get_weights, save_model
from faceprint.weights.registry import Weights

#: The verification threshold of a trained model accepts this fraction of strangers.
MODEL_FAR = 1e-3
CHECKPOINT = "checkpoint.pt"
FREEZE_CHOICES = ("auto", "none", "backbone", *InceptionResnetV1.BLOCKS[:-1])
_CHECKPOINT_FORMAT = "faceprint-checkpoint/1"
#: Triplet batches hold this many photos of each person in them (positives to mine).
_PHOTOS_PER_PERSON = 4


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        data: ``<person>/<image>`` photos (or crops with ``cropped``).
        out: the run folder.
        val: a separate validation folder with the same people; else ``val_split`` of
            ``data``'s images, per person, at random (``seed``).
        val_split: fraction of each person's images held out, in (0, 1).
        model: the registry name or model file to start from.
        scratch: start from random weights instead.
        loss: ``"softmax"``, ``"arcface"`` or ``"triplet"``.
        epochs, batch_size, lr: the schedule; the learning rate is divided by 10 at each of
            ``milestones`` (epochs), as in facenet-pytorch's notebook.
        pretrained_lr_scale: when fine-tuning, pretrained layers learn at ``lr`` times this
            (the new classifier head at ``lr``), so the embedding keeps what it knew about
            people it is not shown.
        freeze: ``"none"``, ``"backbone"`` (train the bottleneck and head only), a block of
            :data:`InceptionResnetV1.BLOCKS` (freeze it and all before it), or ``"auto"``:
            ``"repeat_3"`` when fine-tuning, ``"none"`` from scratch.
        device: torch device; default CUDA if available, else CPU.
        workers: data-loading worker processes.
        seed: seeds Python, numpy and torch, and the split.
        cropped: ``data`` (and ``val``) hold aligned crops already (``faceprint crop``).
        align: how photos are cropped when not ``cropped``.
        precision: ``"auto"`` (bf16 autocast where the device computes it natively), ``"fp32"``
            or ``"bf16"``.
        resume: continue the run in ``out`` from its checkpoint.
        progress: show progress bars.
    """

    data: Path
    out: Path
    val: Path | None = None
    val_split: float = 0.3
    model: str = "ms-celeb-1m"
    scratch: bool = False
    loss: str = "softmax"
    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    milestones: tuple[int, ...] = (5, 10)
    pretrained_lr_scale: float = 0.1
    freeze: str = "auto"
    device: str | None = None
    workers: int = 2
    seed: int = 0
    cropped: bool = False
    align: str = "box"
    precision: str = "auto"
    resume: bool = False
    progress: bool = True


def train(config: TrainConfig) -> dict:
    """Run (or resume) a training run; returns the summary written to ``summary.json``.

    Under ``torchrun`` each process trains on its share of every epoch (DistributedDataParallel,
    gloo on CPU, NCCL on CUDA); rank 0 alone crops, writes checkpoints, logs and the model.

    Raises:
        DatasetError: a folder that cannot be trained on (said before any training).
        TrainingError: a non-finite loss (the last good checkpoint is kept), or a checkpoint
            that belongs to another run.
    """
    return _Run(config).run()


class _Run:
    def __init__(self, config: TrainConfig) -> None:
        if config.loss not in LOSSES:
            raise DatasetError(f"--loss must be one of {', '.join(LOSSES)}, got {config.loss!r}")
        if config.freeze not in FREEZE_CHOICES:
            raise DatasetError(
                f"--freeze must be one of {', '.join(FREEZE_CHOICES)}, got {config.freeze!r}"
            )
        if config.loss != "softmax":
            require("pytorch_metric_learning", "train", f"--loss {config.loss}")
        if config.loss == "triplet" and config.batch_size % _PHOTOS_PER_PERSON:
            raise DatasetError(
                f"--loss triplet takes {_PHOTOS_PER_PERSON} photos per person into each batch: "
                f"--batch-size must be a multiple of {_PHOTOS_PER_PERSON}, got {config.batch_size}"
            )
        if config.epochs < 1 or config.batch_size < 2:
            raise DatasetError("--epochs must be at least 1 and --batch-size at least 2")
        self.config = config
        self.out = Path(config.out)
        #: Photos cropped in this call, and those that could not be read (failed inputs).
        self.photos = self.unreadable = 0
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = torch.device(
            config.device or ("cuda" if torch.cuda.is_available() else "cpu")
        )
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> dict:
        config = self.config
        checkpoint = self.out / CHECKPOINT
        if checkpoint.exists() and not config.resume:
            raise DatasetError(
                f"{self.out} already holds a run ({CHECKPOINT}); pass --resume to continue it, "
                "or choose another --out"
            )
        _seed(config.seed + self.rank)
        if self.world > 1:
            torch.distributed.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        try:
            return self._run(checkpoint)
        finally:
            if self.world > 1:
                torch.distributed.destroy_process_group()

    def _run(self, checkpoint_path: Path) -> dict:
        config = self.config
        started = time.perf_counter()
        self.base = self._base_record()
        self.alignment = Alignment(method=config.align, **self.base.alignment.get(config.align, {}))
        train_set, val_set = self._datasets()
        classes = train_set.classes
        if config.loss == "triplet" and len(classes) * _PHOTOS_PER_PERSON < config.batch_size:
            raise DatasetError(
                f"--loss triplet with {len(classes)} people fills batches of at most "
                f"{len(classes) * _PHOTOS_PER_PERSON} photos; lower --batch-size"
            )
        model = self._model(len(classes))
        frozen = self._frozen_until(model)
        objective = make_objective(config.loss, len(classes), model.embedding_size, model.logits)
        if config.loss != "softmax":
            model.logits.requires_grad_(False)  # fitted after training, for `classify`
        model.to(self.device)
        objective.to(self.device)
        trainable = _Trainable(model, objective, frozen)
        new = {id(p) for p in (*model.logits.parameters(), *objective.parameters())}
        trained = [p for p in trainable.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in trained if id(p) in new], "lr": config.lr},
            {
                "params": [p for p in trained if id(p) not in new],
                "lr": config.lr * (1.0 if config.scratch else config.pretrained_lr_scale),
            },
        ]
        optimizer = torch.optim.Adam([g for g in groups if g["params"]])
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), 0.1)

        train_x, val_x = (
            self._inputs(model, frozen, train_set),
            self._inputs(model, frozen, val_set),
        )
        loader, sampler = self._loader(train_x, train_set.labels, objective.needs_pairs)
        train_labels = torch.as_tensor(train_set.labels)
        state = {"epoch": 0, "history": [], "best": None}
        if config.resume and checkpoint_path.exists():
            state = self._restore(checkpoint_path, trainable, optimizer, scheduler, classes)
        elif hasattr(objective, "imprint") and not config.scratch:
            objective.imprint(self._embed(trainable, train_x), train_labels)
        wrapped = trainable
        if self.world > 1:
            wrapped = nn.parallel.DistributedDataParallel(trainable)
        autocast_dtype = self._autocast_dtype()
        for epoch in range(state["epoch"], config.epochs):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            trainable.train_mode()
            tic = time.perf_counter()
            losses, seen = [], 0
            bar = tqdm(
                loader,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                unit="batch",
                disable=not (config.progress and self.rank == 0),
                leave=False,
            )
            for batch, (x, y) in enumerate(bar):
                x, y = x.to(self.device), y.to(self.device)
                with torch.autocast(
                    self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None
                ):
                    loss, _ = wrapped(x, y)
                if not torch.isfinite(loss):
                    raise TrainingError(
                        f"the loss is {loss.item()} at epoch {epoch + 1}, batch {batch + 1}; "
                        f"the run stopped without saving (the last checkpoint is epoch "
                        f"{state['epoch']}); lower --lr or check the data"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                seen += len(y)
                bar.set_postfix(loss=f"{np.mean(losses):.4f}")
            scheduler.step()
            seconds = time.perf_counter() - tic
            if self.world > 1:
                torch.distributed.barrier()
            val_features = self._embed(trainable, val_x)
            val_top1 = self._val_top1(trainable, train_x, train_labels, val_features, val_set)
            row = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                "val_top1": val_top1,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": seconds,
                "images_per_second": seen * self.world / seconds,
            }
            state["history"].append(row)
            state["epoch"] = epoch + 1
            improved = state["best"] is None or val_top1 > state["best"]["val_top1"]
            if improved:
                state["best"] = {"epoch": epoch + 1, "val_top1": val_top1}
            if self.rank == 0:
                if improved:
                    self._save_model(trainable, train_x, train_labels, val_features, val_set)
                self._log(state["history"])
                self._checkpoint(checkpoint_path, trainable, optimizer, scheduler, state, classes)
                if config.progress:
                    tqdm.write(
                        f"epoch {epoch + 1}/{config.epochs}: loss {row['train_loss']:.4f}, "
                        f"val top-1 {val_top1:.4f}, {row['images_per_second']:.1f} img/s"
                    )
            if self.world > 1:
                torch.distributed.barrier()
        summary = {
            "val_top1": state["best"]["val_top1"],
            "best_epoch": state["best"]["epoch"],
            "final_val_top1": state["history"][-1]["val_top1"],
            "classes": len(classes),
            "train_images": len(train_set.paths),
            "val_images": len(val_set.paths),
            "epochs": state["epoch"],
            "loss": config.loss,
            "freeze": frozen or "none",
            "seconds": sum(r["seconds"] for r in state["history"]),
            "wall_seconds_this_call": time.perf_counter() - started,
            "images_per_second": float(np.mean([r["images_per_second"] for r in state["history"]])),
            "threshold": self._threshold,
            "model": str(self.out / "model.pt"),
            "world_size": self.world,
            "photos": self.photos,
            "unreadable_photos": self.unreadable,
        }
        if self.rank == 0:
            with atomic_path(self.out / "summary.json") as tmp:
                tmp.write_text(json.dumps(summary, indent=2))
        return summary

    # -- data ---------------------------------------------------------------------------------

    def _datasets(self) -> tuple[FaceFolder, FaceFolder]:
        config = self.config
        data = self._crops(scan_folder(config.data, "DATA_DIR"), "crops")
        if config.val is not None:
            val = match_classes(data, self._crops(scan_folder(config.val, "--val"), "val-crops"))
            train = data
            if missing := sorted(set(data.classes) - {data.classes[k] for k in val.labels}):
                raise DatasetError(
                    f"--val has no images of {listed(missing)}: every person needs some to validate"
                )
        else:
            short = [c for c, n in zip(data.classes, data.counts(), strict=True) if n < 2]
            if short:
                raise DatasetError(
                    f"DATA_DIR {config.data}: {listed(short)} "
                    f"{'has' if len(short) == 1 else 'have'} a single usable image; each person "
                    "needs at least 2 (one to train, one to validate), or pass --val DIR"
                )
            train, val = split_per_class(data, config.val_split, config.seed)
        return train, val

    def _crops(self, folder: FaceFolder, name: str) -> FaceFolder:
        """The aligned crops of ``folder`` (itself when ``cropped``), made by rank 0."""
        if folder.ignored and self.rank == 0:
            tqdm.write(folder.ignored_note())
        if self.config.cropped:
            return folder
        out = self.out / name
        if self.rank == 0:
            report = crop_tree(
                folder,
                out,
                self.alignment,
                self.base.min_face_probability or 0.0,
                self.base.min_face_size or 0.0,
                device=self.device,
                progress=self.config.progress,
            )
            self.unreadable += report.unreadable
            self.photos += len(folder.paths)
            if report.skipped:
                count = len(report.skipped)
                tqdm.write(
                    f"{count} photo{'' if count == 1 else 's'} gave no usable face; reasons in "
                    f"{out / 'skipped.csv'}"
                )
        if self.world > 1:
            torch.distributed.barrier()
        crops = scan_folder(out, "the crops of " + str(folder.root))
        # A person whose every photo was skipped would silently lose their class: refuse.
        empty = sorted(set(folder.classes) - set(crops.classes))
        if empty:
            raise DatasetError(
                f"no usable face in any photo of {listed(empty)}; see {out / 'skipped.csv'}"
            )
        return crops

    def _inputs(self, model: InceptionResnetV1, frozen: str | None, folder: FaceFolder):
        """The training inputs of ``folder``: standardized crops, or the frozen blocks' output."""
        dataset = CropDataset(folder, model.standardization)
        if frozen is None:
            return dataset
        cached = _frozen_cache_path(self.base, frozen, model.standardization, folder)
        if cached.exists():
            return torch.utils.data.TensorDataset(
                torch.load(cached, weights_only=True), torch.as_tensor(folder.labels)
            )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=64, num_workers=self.config.workers, shuffle=False
        )
        parts = []
        model.eval()
        with torch.inference_mode():
            for x, _ in tqdm(
                loader,
                desc="frozen blocks",
                unit="batch",
                disable=not (self.config.progress and self.rank == 0),
                leave=False,
            ):
                parts.append(model.trunk(x.to(self.device), until=frozen).float().cpu())
        outputs = torch.cat(parts)
        if self.rank == 0:
            cached.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cached) as tmp:
                torch.save(outputs, tmp)
        return torch.utils.data.TensorDataset(outputs, torch.as_tensor(folder.labels))

    def _loader(self, dataset, labels: np.ndarray, needs_pairs: bool):
        config = self.config
        if needs_pairs:
            from pytorch_metric_learning.samplers import MPerClassSampler

            sampler = MPerClassSampler(
                labels,
                m=_PHOTOS_PER_PERSON,
                batch_size=config.batch_size,
                length_before_new_iter=len(labels),
            )
        elif self.world > 1:
            sampler = torch.utils.data.DistributedSampler(dataset, seed=config.seed)
        else:
            sampler = torch.utils.data.RandomSampler(
                dataset, generator=torch.Generator().manual_seed(config.seed)
            )
        workers = config.workers if isinstance(dataset, CropDataset) else 0
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=sampler,
            num_workers=workers,
            drop_last=len(dataset) > config.batch_size,
            persistent_workers=workers > 0,
        )
        return loader, sampler

    # -- model --------------------------------------------------------------------------------

    def _base_record(self) -> Weights:
        if not self.config.scratch:
            return get_weights(self.config.model)
        base = get_weights("ms-celeb-1m")
        return Weights(
            name="scratch",
            architecture="inception_resnet_v1",
            filename="model.pt",
            embedding_size=512,
            input_size=160,
            standardization="fixed",
            alignment=base.alignment,
            min_face_probability=base.min_face_probability,
            min_face_size=base.min_face_size,
            open_set_exponent=base.open_set_exponent,
        )

    def _model(self, num_classes: int) -> InceptionResnetV1:
        if self.config.scratch:
            model = InceptionResnetV1(num_classes=num_classes, embedding_size=512)
        else:
            model = create_model(self.base)
            if not isinstance(model, InceptionResnetV1):
                raise DatasetError(f"--model {self.config.model} is not an Inception-ResNet-v1")
            model.logits = nn.Linear(model.embedding_size, num_classes)
        model.standardization = self.base.standardization or "fixed"
        model.num_classes = num_classes
        return model

    def _frozen_until(self, model: InceptionResnetV1) -> str | None:
        """Freeze the chosen blocks (eval mode, no gradients); returns the last frozen one."""
        choice = self.config.freeze
        if choice == "auto":
            choice = "none" if self.config.scratch else "repeat_3"
        if choice == "none":
            return None
        last = "avgpool_1a" if choice == "backbone" else choice
        for name in InceptionResnetV1.BLOCKS[: InceptionResnetV1.BLOCKS.index(last) + 1]:
            getattr(model, name).requires_grad_(False)
        return last

    def _autocast_dtype(self) -> torch.dtype | None:
        """bf16 where chosen (or, for "auto", computed natively), else None: fp32. bf16 keeps
        fp32's exponent range, so no loss scaling is needed."""
        from faceprint.precision import resolve_precision

        return (
            torch.bfloat16
            if resolve_precision(self.config.precision, self.device) == "bf16"
            else None
        )

    # -- evaluation and outputs ---------------------------------------------------------------

    def _embed(self, trainable: _Trainable, inputs) -> torch.Tensor:
        """``(N, D)`` features of every input, in eval mode."""
        trainable.eval()
        loader = torch.utils.data.DataLoader(inputs, batch_size=128, shuffle=False)
        with torch.inference_mode():
            out = [trainable.features(x.to(self.device)).float().cpu() for x, _ in loader]
        return torch.cat(out)

    def _val_top1(self, trainable, train_x, train_labels, features, val_set) -> float:
        """Top-1 of the ``(N, D)`` validation ``features`` among the training people."""
        labels = val_set.labels
        logits = trainable.objective.logits(features.to(self.device))
        if logits is None:  # triplet: the nearest mean of each person's training embeddings
            train_unit = F.normalize(self._embed(trainable, train_x), dim=1)
            sums = torch.zeros(int(train_labels.max()) + 1, train_unit.shape[1])
            means = F.normalize(sums.index_add_(0, train_labels, train_unit), dim=1)
            logits = F.normalize(features, dim=1) @ means.T
        return float((logits.argmax(1).cpu() == torch.as_tensor(labels)).float().mean())

    def _save_model(self, trainable, train_x, train_labels, val_features, val_set) -> None:
        classes = val_set.classes
        model = trainable.model
        if self.config.loss != "softmax":
            _fit_head(model.logits, self._embed(trainable, train_x), train_labels)
        val_unit = F.normalize(val_features, dim=1).numpy()
        quantiles, _ = impostor_quantiles(val_unit, val_set.labels)
        self._threshold = distance_at_far(quantiles, MODEL_FAR)
        align = self.config.align
        parameters = {k: v for k, v in self.alignment.parameters().items() if k not in ("method",)}
        name = f"{self.out.resolve().name}-{_digest(model)}"
        origin = "from scratch" if self.config.scratch else f"fine-tuned from {self.base.name}"
        save_model(
            model,
            self.out / "model.pt",
            self.base,
            name=name,
            filename="model.pt",
            num_classes=len(classes),
            classes=tuple(classes),
            embedding_size=model.embedding_size,
            standardization=model.standardization,
            alignment={align: parameters},
            thresholds={align: self._threshold},
            impostor_distances={align: tuple(float(q) for q in quantiles)},
            threshold_source=(
                f"faceprint train: impostor pairs of the validation images, FAR {MODEL_FAR:g}"
            ),
            lfw_accuracy=None,
            lfw_source=None,
            description=f"{self.config.loss}, {origin}, {len(classes)} people",
        )

    _threshold: float | None = None

    def _log(self, history: list[dict]) -> None:
        with atomic_path(self.out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        from faceprint.training.curves import plot_curves

        plot_curves(history, self.out / "curves.png", title=f"{self.config.loss}, {self.out.name}")
        _tensorboard(self.out, history[-1])

    def _checkpoint(self, path, trainable, optimizer, scheduler, state, classes) -> None:
        payload = {
            "format": _CHECKPOINT_FORMAT,
            "loss": self.config.loss,
            "classes": list(classes),
            "trainable": trainable.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": state,
            "threshold": self._threshold,
            "rng": torch.get_rng_state(),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def _restore(self, path, trainable, optimizer, scheduler, classes) -> dict:
        payload = torch.load(path, map_location=self.device, weights_only=True)
        if payload.get("format") != _CHECKPOINT_FORMAT:
            raise TrainingError(f"{path} is not a faceprint training checkpoint")
        if payload["loss"] != self.config.loss or tuple(payload["classes"]) != tuple(classes):
            raise TrainingError(
                f"{path} belongs to another run ({payload['loss']} loss, "
                f"{len(payload['classes'])} classes); resume with the same data and --loss"
            )
        trainable.load_state_dict(payload["trainable"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        torch.set_rng_state(payload["rng"].cpu())
        self._threshold = payload["threshold"]
        if self.rank == 0 and self.config.progress:
            tqdm.write(f"resuming {self.out} after epoch {payload['state']['epoch']}")
        return payload["state"]


class _Trainable(nn.Module):
    """The model's trainable part and the objective, as one module for DDP: ``(x, y)`` in,
    ``(loss, features)`` out. ``x`` is crops, or the frozen blocks' output."""

    def __init__(self, model: InceptionResnetV1, objective: nn.Module, frozen: str | None):
        super().__init__()
        self.model, self.objective, self.frozen = model, objective, frozen

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.frozen is None:
            return self.model.features(x)
        if self.frozen == "avgpool_1a":
            return self.model.head_features(x)
        return self.model.head_features(self.model.rest_of_trunk(x, after=self.frozen))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.objective(features, y), features

    def train_mode(self) -> None:
        """Train mode for what is trained; frozen blocks stay in eval mode (their batch-norm
        statistics are part of what is frozen)."""
        self.train()
        if self.frozen is not None:
            for name in InceptionResnetV1.BLOCKS[: InceptionResnetV1.BLOCKS.index(self.frozen) + 1]:
                getattr(self.model, name).eval()


def _fit_head(head: nn.Linear, features: torch.Tensor, labels: torch.Tensor) -> None:
    """Softmax regression of ``head`` on fixed ``(N, D)`` features, for objectives that learn
    no linear classifier themselves (ArcFace, triplet): ``classify`` then works alike."""
    with torch.enable_grad():
        head.requires_grad_(True)
        head.reset_parameters()
        features, labels = features.to(head.weight.device), labels.to(head.weight.device)
        optimizer = torch.optim.LBFGS(
            head.parameters(), max_iter=200, line_search_fn="strong_wolfe"
        )

        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(head(features), labels) + 1e-4 * head.weight.square().sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        head.requires_grad_(False)


def frozen_cache_dir() -> Path:
    """Where the frozen blocks' outputs are kept between runs (``$FACEPRINT_TRAIN_CACHE``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faceprint" / "train"
    return Path(os.environ.get("FACEPRINT_TRAIN_CACHE", default))


def _frozen_cache_path(record: Weights, frozen: str, standardization: str, folder) -> Path:
    """The cache file of the frozen blocks' outputs: keyed by the weights, the last frozen
    block and every crop's path, size and modification time, so a changed crop misses."""
    stats = [os.stat(p) for p in folder.paths]
    files = [
        (str(p), st.st_size, st.st_mtime_ns) for p, st in zip(folder.paths, stats, strict=True)
    ]
    key = json.dumps([record.name, record.path, frozen, standardization, files])
    return frozen_cache_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pt"


def _digest(model: nn.Module) -> str:
    """8 hex digits of the weights: trained models of one run folder name get told apart."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:8]


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _tensorboard(out: Path, row: dict) -> None:
    """Log the epoch's row to TensorBoard where it is installed (optional)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    with SummaryWriter(str(out / "tensorboard")) as writer:
        for key, value in row.items():
            if key != "epoch":
                writer.add_scalar(key, value, row["epoch"])
