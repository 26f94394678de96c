"""Build every model from :class:`Settings`: BLIP, CLIP, the interrogator and its text encoder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qdrant_mm.encoders.blip import load_blip
from qdrant_mm.encoders.bundle import ModelBundle
from qdrant_mm.encoders.clip import load_clip
from qdrant_mm.encoders.devices import resolve_device
from qdrant_mm.encoders.interrogator import load_interrogator
from qdrant_mm.encoders.sentence import load_sentence_encoder

if TYPE_CHECKING:
    from qdrant_mm.settings import Settings


def load_models(settings: Settings, *, term_cache_dir: Path | None = None) -> ModelBundle:
    """Load BLIP, CLIP, the interrogator and its text encoder as ``settings`` say.

    The CLIP model is loaded once and shared by the CLIP channel and the interrogator. With
    ``interrogator_text_model == "clip"`` the CLIP encoder also embeds the descriptions.
    ``term_cache_dir`` (optional) keeps the interrogator's term embeddings on disk.
    """
    device = resolve_device(settings.device)
    precision = settings.cpu_precision
    clip = load_clip(
        settings.clip_model,
        settings.clip_pretrained,
        device,
        batch_size=settings.batch_size,
        cpu_precision=precision,
    )
    blip = load_blip(
        settings.blip_model, device, batch_size=settings.batch_size, cpu_precision=precision
    )
    describer = load_interrogator(
        clip,
        caption_model=settings.caption_model,
        vocabulary=settings.interrogator_vocabulary,
        terms_dir=settings.interrogator_terms,
        mode=settings.interrogator_mode,
        caption_max_length=settings.caption_max_length,
        batch_size=settings.batch_size,
        cache_dir=term_cache_dir,
        cpu_precision=precision,
    )
    if settings.interrogator_text_model.strip().lower() == "clip":
        text = clip
    else:
        text = load_sentence_encoder(
            settings.interrogator_text_model, device, batch_size=settings.batch_size
        )
    return ModelBundle(blip=blip, clip=clip, describer=describer, interrogator_text=text)
