"""Benchmarks: verification on labelled pairs (LFW's 10-fold protocol), metrics and ROC plots."""

from faceprint.evaluation.metrics import VerificationMetrics, verification_metrics
from faceprint.evaluation.verification import (
    Pairs,
    VerificationReport,
    evaluate,
    folder_pairs,
    read_lfw_pairs,
)

__all__ = [
    "Pairs",
    "VerificationMetrics",
    "VerificationReport",
    "evaluate",
    "folder_pairs",
    "read_lfw_pairs",
    "verification_metrics",
]
