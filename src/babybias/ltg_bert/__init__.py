"""LTG-BERT (Samuel et al. 2023) as a transformers model: `model=ltg_bert` / `model=ltg_bert_small`.

configuration_ltg_bert.py and modeling_ltg_bert.py import only torch and transformers: `save_pretrained` copies
them into every checkpoint (with `auto_map` in config.json), so a checkpoint loads

- with babybias installed: `import babybias.ltg_bert` (every babybias loader does) maps model_type `ltg_bert`
  to these classes for AutoConfig, AutoModel and AutoModelForMaskedLM, so the plain
  `AutoModelForMaskedLM.from_pretrained(folder)` works;
- without babybias: `AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)` runs the copied files.

Importing this package imports transformers' model classes (seconds): babybias imports it only where it builds or
loads a model, never at CLI start.
"""

from __future__ import annotations

_registered = False


def register_auto_classes() -> None:
    """Make AutoConfig / AutoModel / AutoModelForMaskedLM know model_type `ltg_bert` (idempotent)."""
    global _registered
    if _registered:
        return
    from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

    from babybias.ltg_bert.configuration_ltg_bert import LtgBertConfig
    from babybias.ltg_bert.modeling_ltg_bert import LtgBertForMaskedLM, LtgBertModel

    AutoConfig.register(LtgBertConfig.model_type, LtgBertConfig, exist_ok=True)
    AutoModel.register(LtgBertConfig, LtgBertModel, exist_ok=True)
    AutoModelForMaskedLM.register(LtgBertConfig, LtgBertForMaskedLM, exist_ok=True)
    _registered = True


register_auto_classes()
