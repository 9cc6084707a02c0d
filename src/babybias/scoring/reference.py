"""The slow, obvious reference: one full forward pass per masked token (as the original CrowS-Pairs code).

Only for tests (the engine must equal it) and `benchmarks/scoring_speed.py` (the engine must beat it).
It deliberately shares no code with the engine's batching: it runs the whole transformers model and
reads its logits.
"""

from __future__ import annotations

import torch

from babybias.metrics.requests import TokenScoreRequest, TokenScores


def one_forward_per_mask(hf_model: torch.nn.Module, tokenizer, request: TokenScoreRequest,
                         device: str | torch.device = "cpu") -> TokenScores:
    """`TokenScores` for one request, masking each selected token in its own unbatched forward pass."""
    enc = tokenizer(request.text, return_offsets_mapping=True, return_special_tokens_mask=True)
    ids, offsets = enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]
    spans = request.score_char_spans
    chosen = [i for i, (s, e) in enumerate(offsets) if not enc["special_tokens_mask"][i] and e > s
              and (spans is None or any(a <= s and e <= b for a, b in spans))]
    logprobs = []
    hf_model = hf_model.eval().to(device)
    with torch.inference_mode():
        for i in chosen:
            masked = torch.tensor([ids], device=device)
            masked[0, i] = tokenizer.mask_token_id
            logits = hf_model(input_ids=masked).logits[0, i].float()
            logprobs.append(torch.log_softmax(logits, dim=-1)[ids[i]].item())
    return TokenScores(tuple(ids[i] for i in chosen), tuple(offsets[i] for i in chosen), tuple(logprobs))
