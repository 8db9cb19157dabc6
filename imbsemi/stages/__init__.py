"""The stages as plain functions: a validated config in, a StageResult (run folder, metrics, paths of
what was written) out. Everything that runs a stage from Python (CLIs, experiments, data_prep,
tests) calls these; nothing here parses arguments, prints or exits."""
from imbsemi.stages.common import StageResult, run_folder
from imbsemi.stages.evaluate import evaluate_knn, run_evaluate
from imbsemi.stages.finetune import run_finetune
from imbsemi.stages.pipeline import run_pipeline
from imbsemi.stages.pseudolabel import run_pseudolabel
from imbsemi.stages.ssp import run_ssp

__all__ = ["StageResult", "evaluate_knn", "run_evaluate", "run_finetune", "run_folder", "run_pipeline",
           "run_pseudolabel", "run_ssp"]
