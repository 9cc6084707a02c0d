"""babybias: a reproducible pipeline for studying social bias in small masked LMs and fairness under SISA unlearning."""

__version__ = "0.1.0"
