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
from faceprint.training.classify import (
    CLASS_CENTRES,
    CLASS_IMPOSTOR_DISTANCES,
    centre_impostor_quantiles,
)
from faceprint.training.data import (
    CropDataset,
    FaceFolder,
    crop_tree,
    match_classes,
    scan_folder,
    split_per_class,
)
from faceprint.training.objectives import (
    LOSSES,
    class_centres,
    imprint_head,
    make_objective,
    nearest_centre_top1,
)
from faceprint.training.schedule import HEADS, resolve_schedule
from faceprint.weights.calibration import distance_at_far
from faceprint.weights.factory import create_model, get_weights, save_model
from faceprint.weights.registry import BASE_DETECTOR, DetectorCalibration, Weights

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
            ``milestones`` (epochs), as in facenet-pytorch's notebook. ``epochs`` and ``lr``
            None: by data size (:func:`resolve_schedule`).
        pretrained_lr_scale: when fine-tuning, pretrained layers learn at ``lr`` times this
            (the new classifier head at ``lr``), so the embedding keeps what it knew about
            people it is not shown.
        freeze: ``"none"``, ``"backbone"`` (train the bottleneck and head only), a block of
            :data:`InceptionResnetV1.BLOCKS` (freeze it and all before it), or ``"auto"``:
            by data size when fine-tuning (:func:`resolve_schedule`), ``"none"`` from scratch.
        head: one of :data:`HEADS`.
        device: torch device; default CUDA if available, else CPU.
        workers: data-loading worker processes.
        seed: seeds Python, numpy and torch, and the split.
        cropped: ``data`` (and ``val``) hold aligned crops already (``faceprint crop``).
        align: how photos are cropped when not ``cropped``.
        detector: the detector that finds the faces to crop when not ``cropped``
            (:func:`faceprint.detection.create_detector`).
        min_quality: when not ``cropped``, photos whose face's heuristic quality
            (:func:`faceprint.quality.heuristic_quality`, in [0, 1]) is under this are not
            trained on (listed in the crop folder's ``skipped.csv``); 0 keeps every face.
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
    epochs: int | None = None
    batch_size: int = 32
    lr: float | None = None
    milestones: tuple[int, ...] = (5, 10)
    pretrained_lr_scale: float = 0.1
    freeze: str = "auto"
    head: str = "auto"
    device: str | None = None
    workers: int = 2
    seed: int = 0
    cropped: bool = False
    align: str = "box"
    detector: str = "mtcnn"
    min_quality: float = 0.0
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
        if config.head not in HEADS:
            raise DatasetError(f"--head must be one of {', '.join(HEADS)}, got {config.head!r}")
        if (config.epochs is not None and config.epochs < 1) or config.batch_size < 2:
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
        schedule = self.schedule = resolve_schedule(config, float(np.median(train_set.counts())))
        if config.loss == "triplet" and len(classes) * _PHOTOS_PER_PERSON < config.batch_size:
            raise DatasetError(
                f"--loss triplet with {len(classes)} people fills batches of at most "
                f"{len(classes) * _PHOTOS_PER_PERSON} photos; lower --batch-size"
            )
        model = self._model(len(classes))
        frozen = self._frozen_until(model)
        objective = make_objective(config.loss, len(classes), model.embedding_size, model.logits)
        if config.loss != "softmax":
            model.logits.requires_grad_(False)  # imprinted from the class centres when saved
        model.to(self.device)
        objective.to(self.device)
        trainable = _Trainable(model, objective, frozen)
        new = {id(p) for p in (*model.logits.parameters(), *objective.parameters())}
        trained = [p for p in trainable.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in trained if id(p) in new], "lr": schedule.lr},
            {
                "params": [p for p in trained if id(p) not in new],
                "lr": schedule.lr * (1.0 if config.scratch else config.pretrained_lr_scale),
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
        # The baseline is the classifier that needs no training: each validation photo goes to
        # the nearest class centre of the starting embedding. model.pt is never worse.
        start_features = self._embed(trainable, train_x)
        start_centres = class_centres(start_features, train_labels, len(classes))
        start_val = self._embed(trainable, val_x)
        baseline = nearest_centre_top1(start_val, val_set.labels, start_centres)
        progress = config.progress and self.rank == 0
        state = {
            "epoch": 0,
            "history": [],
            "best": {"epoch": 0, "val_top1": baseline},
            "baseline_top1": baseline,
        }
        if config.resume and checkpoint_path.exists():
            state = self._restore(checkpoint_path, trainable, optimizer, scheduler, classes)
            state.setdefault("baseline_top1", baseline)
        else:
            if schedule.head == "imprint" and config.loss == "softmax":
                imprint_head(model.logits, start_centres, start_features)
            elif schedule.head == "imprint" and config.loss == "arcface":
                objective.imprint(start_centres)
            if self.rank == 0:
                self._save_model(
                    trainable, start_features, train_labels, start_val, val_set, start=True
                )
        if progress:
            tqdm.write(
                f"baseline: val top-1 {state['baseline_top1']:.4f} (nearest class centre of "
                f"{'untrained weights' if config.scratch else self.base.name}); "
                f"{schedule.describe()}"
            )
        wrapped = trainable
        if self.world > 1:
            wrapped = nn.parallel.DistributedDataParallel(trainable)
        autocast_dtype = self._autocast_dtype()
        for epoch in range(state["epoch"], schedule.epochs):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            trainable.train_mode()
            tic = time.perf_counter()
            losses, seen = [], 0
            bar = tqdm(
                loader,
                desc=f"epoch {epoch + 1}/{schedule.epochs}",
                unit="batch",
                disable=not progress,
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
                        f"the run stopped (the last checkpoint is epoch {state['epoch']}, "
                        f"model.pt its best); lower --lr or check the data"
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
            # Strictly better only: on a tie the start (or the earlier epoch) is kept.
            improved = val_top1 > state["best"]["val_top1"]
            if improved:
                state["best"] = {"epoch": epoch + 1, "val_top1": val_top1}
            if self.rank == 0:
                if improved:
                    self._save_model(trainable, train_x, train_labels, val_features, val_set)
                self._log(state["history"], state["baseline_top1"])
                self._checkpoint(checkpoint_path, trainable, optimizer, scheduler, state, classes)
                if progress:
                    tqdm.write(
                        f"epoch {epoch + 1}/{schedule.epochs}: loss {row['train_loss']:.4f}, "
                        f"val top-1 {val_top1:.4f} (baseline {state['baseline_top1']:.4f}), "
                        f"{row['images_per_second']:.1f} img/s"
                    )
            if self.world > 1:
                torch.distributed.barrier()
        best = state["best"]
        history = state["history"]
        summary = {
            "val_top1": best["val_top1"],
            "baseline_top1": state["baseline_top1"],
            "best_epoch": best["epoch"],
            "beat_baseline": best["epoch"] > 0,
            "kept": (
                f"epoch {best['epoch']}, the best on validation"
                if best["epoch"] > 0
                else "the starting model with an imprinted head: no epoch beat the baseline"
            ),
            "final_val_top1": history[-1]["val_top1"] if history else best["val_top1"],
            "classes": len(classes),
            "train_images": len(train_set.paths),
            "val_images": len(val_set.paths),
            "photos_per_person": float(np.median(train_set.counts())),
            "epochs": state["epoch"],
            "loss": config.loss,
            "head": schedule.head,
            "freeze": frozen or "none",
            "lr": schedule.lr,
            "defaults": schedule.defaults,
            "seconds": sum(r["seconds"] for r in history),
            "wall_seconds_this_call": time.perf_counter() - started,
            "images_per_second": (
                float(np.mean([r["images_per_second"] for r in history])) if history else 0.0
            ),
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
            # crop_tree finds faces with MTCNN: the base model's face filter for its faces
            report = crop_tree(
                folder,
                out,
                self.alignment,
                *self.base.face_filter(BASE_DETECTOR, self.alignment.method),
                device=self.device,
                progress=self.config.progress,
                detector=self.config.detector,
                min_quality=self.config.min_quality,
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
        """The training inputs of ``folder``: standardized crops, or the frozen blocks' output.

        The frozen blocks' output is cached per crop, so another split of the same crops (or
        a folder with a few more photos) runs the blocks only on crops not seen before; and a
        crop cached at an earlier block runs only the blocks after it."""
        dataset = CropDataset(folder, model.standardization)
        if frozen is None:
            return dataset
        files = self._frozen_files(frozen, model, folder)
        missing = [i for i, file in enumerate(files) if not file.exists()]
        computed: dict[int, torch.Tensor] = {}
        if missing:
            # Each missing crop starts from the latest earlier block cached for it, or the crop.
            starts: dict[str | None, list[int]] = {}
            earlier = InceptionResnetV1.BLOCKS[: InceptionResnetV1.BLOCKS.index(frozen)]
            cached = {b: self._frozen_files(b, model, folder) for b in earlier}
            for i in missing:
                block = next((b for b in reversed(earlier) if cached[b][i].exists()), None)
                starts.setdefault(block, []).append(i)
            model.eval()
            if self.rank == 0:
                files[0].parent.mkdir(parents=True, exist_ok=True)
            with torch.inference_mode():
                for block, indices in starts.items():
                    for batch, x in self._frozen_batches(dataset, block, cached, indices):
                        x = x.to(self.device)
                        if block is None:
                            x = model.trunk(x, until=frozen)
                        else:
                            x = model.rest_of_trunk(x, after=block, until=frozen)
                        for index, output in zip(batch, x.float().cpu(), strict=True):
                            computed[index] = output.clone()  # a view would save the batch
                            if self.rank == 0:
                                with atomic_path(files[index]) as tmp:
                                    torch.save(computed[index], tmp)
        outputs = torch.stack(
            [
                computed[i] if i in computed else torch.load(file, weights_only=True)
                for i, file in enumerate(files)
            ]
        )
        return torch.utils.data.TensorDataset(outputs, torch.as_tensor(folder.labels))

    def _frozen_files(self, block: str, model, folder: FaceFolder) -> list[Path]:
        """The cache file of each crop's output of the blocks up to ``block``."""
        cache = _frozen_cache_folder(self.base, block, model.standardization)
        return [cache / f"{_crop_key(path)}.pt" for path in folder.paths]

    def _frozen_batches(self, dataset, block, cached, indices):
        """``(indices, (B, ...) inputs)`` batches: crops, or the outputs cached at ``block``."""
        if block is not None:
            for start in range(0, len(indices), 64):
                batch = indices[start : start + 64]
                yield (
                    batch,
                    torch.stack([torch.load(cached[block][i], weights_only=True) for i in batch]),
                )
            return
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(dataset, indices),
            batch_size=64,
            num_workers=self.config.workers,
            shuffle=False,
        )
        batches = (indices[start : start + 64] for start in range(0, len(indices), 64))
        for batch, (x, _) in zip(
            batches,
            tqdm(
                loader,
                desc="frozen blocks",
                unit="batch",
                disable=not (self.config.progress and self.rank == 0),
                leave=False,
            ),
            strict=True,
        ):
            yield batch, x

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
            open_set_exponent=base.open_set_exponent,
            # nothing measured for it yet but the face filter of the faces it trains on
            detector_calibrations={
                BASE_DETECTOR: {
                    align: DetectorCalibration(
                        min_face_probability=base.min_face_probability or 0.0,
                        min_face_size=base.min_face_size or 0.0,
                    )
                    for align in base.alignment
                }
            },
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
        choice = self.schedule.freeze
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
        logits = trainable.objective.logits(features.to(self.device))
        if logits is None:  # triplet: the nearest class centre of the training embeddings
            centres = class_centres(
                self._embed(trainable, train_x), train_labels, len(val_set.classes)
            )
            return nearest_centre_top1(features, val_set.labels, centres)
        return float((logits.argmax(1).cpu() == torch.as_tensor(val_set.labels)).float().mean())

    def _save_model(
        self, trainable, train_x, train_labels, val_features, val_set, start: bool = False
    ) -> None:
        """Write ``model.pt``: the model as it is now, with the head ``classify`` uses: the
        trained softmax head, or one imprinted from the class centres (the starting model,
        ArcFace's class weights, triplet's class means), so that it classifies as validated.
        The class centres of the embedding and the distances of the validation photos to other
        people's centres go with it, for ``classify``'s "unknown". ``train_x`` is the training
        inputs, or, for the start, their ``(N, D)`` features (already computed)."""
        classes = val_set.classes
        model = trainable.model
        train_features = train_x if start else self._embed(trainable, train_x)
        centres = class_centres(train_features, train_labels, len(classes))
        head_centres = None
        if start or self.config.loss == "triplet":
            head_centres = centres
        elif self.config.loss == "arcface":
            head_centres = trainable.objective.centres()
        trained_head = model.logits
        if head_centres is not None:
            model.logits = nn.Linear(model.embedding_size, len(classes)).to(self.device)
            imprint_head(model.logits, head_centres, train_features)
        val_unit = F.normalize(val_features, dim=1)
        quantiles, _ = impostor_quantiles(val_unit.numpy(), val_set.labels)
        self._threshold = distance_at_far(quantiles, MODEL_FAR)
        align = self.config.align
        parameters = {k: v for k, v in self.alignment.parameters().items() if k not in ("method",)}
        name = f"{self.out.resolve().name}-{_digest(model)}"
        origin = "from scratch" if self.config.scratch else f"fine-tuned from {self.base.name}"
        if start:
            origin = f"{self.base.name} with a head imprinted from {len(classes)} people's photos"
        try:
            save_model(
                model,
                self.out / "model.pt",
                self.base,
                tensors={
                    CLASS_CENTRES: centres,
                    CLASS_IMPOSTOR_DISTANCES: centre_impostor_quantiles(
                        val_unit, val_set.labels, centres
                    ),
                },
                name=name,
                filename="model.pt",
                num_classes=len(classes),
                classes=tuple(classes),
                embedding_size=model.embedding_size,
                standardization=model.standardization,
                alignment={align: parameters},
                # measured on crops of MTCNN's faces (crop_tree): the record's own numbers,
                # and no other detector's (a base model's calibrations do not carry over)
                thresholds={align: self._threshold},
                impostor_distances={align: tuple(float(q) for q in quantiles)},
                detector_calibrations={},
                # fitted on the base model's embeddings, which training has moved
                open_set_margin={},
                quality_head=None,
                min_face_probability=self.base.face_filter(BASE_DETECTOR, align)[0],
                min_face_size=self.base.face_filter(BASE_DETECTOR, align)[1],
                threshold_source=(
                    f"faceprint train: impostor pairs of the validation images, FAR {MODEL_FAR:g}"
                ),
                lfw_accuracy=None,
                lfw_source=None,
                description=f"{self.config.loss}, {origin}, {len(classes)} people",
            )
        finally:
            model.logits = trained_head

    _threshold: float | None = None

    def _log(self, history: list[dict], baseline: float) -> None:
        with atomic_path(self.out / "metrics.csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(history[0]))
            writer.writeheader()
            writer.writerows(history)
        from faceprint.training.curves import plot_curves

        plot_curves(
            history,
            self.out / "curves.png",
            title=f"{self.config.loss}, {self.out.name}",
            baseline=baseline,
        )
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


def frozen_cache_dir() -> Path:
    """Where the frozen blocks' outputs are kept between runs (``$FACEPRINT_TRAIN_CACHE``)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faceprint" / "train"
    return Path(os.environ.get("FACEPRINT_TRAIN_CACHE", default))


def _frozen_cache_folder(record: Weights, frozen: str, standardization: str) -> Path:
    """Where the frozen blocks' outputs of one model, last frozen block and standardization go."""
    key = json.dumps([record.name, record.path, frozen, standardization])
    return frozen_cache_dir() / hashlib.sha256(key.encode()).hexdigest()[:24]


def _crop_key(path: Path) -> str:
    """A crop's cache name: its real path (a split's symlink names the crop it links to), size
    and modification time, so a changed crop misses."""
    stat = os.stat(path)
    key = json.dumps([str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


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
