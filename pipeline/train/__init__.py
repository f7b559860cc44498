"""The `train` stage: a student (plus projection head) learns cached teacher targets; no teacher is loaded.

    config      TrainConfig, the `train` params section
    targets     teacher targets from embedding stores (in RAM or by whole chunks), label targets; `Targets` protocol
    sampling    epoch draws from the balanced index, windows per clip, chunk-ordered plans
    data        TrainData (corpus, targets, weights, validation rows) and each epoch's plan
    bank        log-mels of fixed examples computed once (train.cache_logmels)
    model       student + head, objective, optimiser
    runtime     the live objects of a run
    validate    per-epoch validation cosine and effective rank
    checkpoint  checkpoint.pt: save each epoch, resume only the identical run
    loop        the training loop and the final student.pt
"""
from pipeline.train.config import TrainConfig
from pipeline.train.data import TrainData, distill_data, supervised_data
from pipeline.train.loop import fit

__all__ = ["TrainConfig", "TrainData", "distill_data", "fit", "supervised_data"]
