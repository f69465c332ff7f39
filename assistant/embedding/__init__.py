"""The embedder seam's adapter: all-MiniLM-L6-v2 without torch.

:mod:`.weights` finds and reads the shipped weights, :mod:`.onnx_encoder` and
:mod:`.numpy_encoder` run the encoder (onnxruntime, or numpy as the fallback), :mod:`.minilm`
tokenizes, picks the encoder and pools, and :mod:`.cache` memoises vectors. onnx, onnxruntime
and tokenizers are imported here only.
"""

from __future__ import annotations

from assistant.embedding.cache import CachingEmbedder
from assistant.embedding.minilm import MiniLMEmbedder
from assistant.embedding.weights import EMBEDDER_NAME

__all__ = ["EMBEDDER_NAME", "CachingEmbedder", "MiniLMEmbedder"]
