"""SISA unlearning on a downstream toxicity task, with FairSISA post-processing.

task.py (data, groups, skew, ids) -> features.py (frozen-encoder features, cached) -> trainers.py (head or
full fine-tuning) -> sisa.py (partition, content-addressed slice checkpoints, resume) -> requests.py
(deletion plans) -> ledger.py (hash-chained ledger, audit) -> costs.py, evaluate.py (fairness via
babybias.fairness), report.py (tables, plot) -> rounds.py (one run, round by round).
"""
