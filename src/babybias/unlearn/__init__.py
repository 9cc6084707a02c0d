"""SISA unlearning on a downstream toxicity task, with FairSISA post-processing.

task.py (data, groups, skew, ids) -> features.py (frozen-encoder features, cached; the run's own copy) ->
trainers.py (head or full fine-tuning) -> sisa.py (partition, content-addressed slice checkpoints, resume) ->
requests.py (deletion plans, forget ids) -> rounds.py (round 0 and deletion rounds) with state.py (versioned
state, atomic commit), purge.py (remove what derives from deleted examples), ledger.py + salted.py (what
proves a deletion), membership.py (membership-inference audit), costs.py, evaluate.py (fairness via
babybias.fairness), report.py (tables, plots) -> setup.py (open a new, resumed or finished run), forget.py
(`babybias unlearn forget`), audit.py + traces.py (`babybias unlearn audit`).
"""
