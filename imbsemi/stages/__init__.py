"""The stages as plain functions: a validated config in, a StageResult (run folder, metrics, paths of
what was written) out. Everything that runs a stage from Python (CLIs, experiments, data_prep,
tests) calls these; nothing here parses arguments, prints or exits. ``STAGES`` lists them."""
from imbsemi.stages.evaluate import run_evaluate
from imbsemi.stages.finetune import run_finetune
from imbsemi.stages.knn_eval import evaluate_knn
from imbsemi.stages.pipeline import run_pipeline
from imbsemi.stages.pseudolabel import run_pseudolabel
from imbsemi.stages.run import run_folder, run_stage
from imbsemi.stages.semi import run_semi
from imbsemi.stages.ssp import run_ssp
from imbsemi.stages.stage import Stage, StageResult
from imbsemi.stages.table import STAGES

__all__ = ["STAGES", "Stage", "StageResult", "evaluate_knn", "run_evaluate", "run_finetune", "run_folder",
           "run_pipeline", "run_pseudolabel", "run_semi", "run_ssp", "run_stage"]
