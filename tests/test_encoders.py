"""Encoders, describer and loaders, on tiny random models loaded through the real loaders."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image

from qdrant_mm.encoders import devices
from qdrant_mm.encoders.base import Describer, Encoder, TextEncoder, l2_normalize
from qdrant_mm.encoders.blip import BlipEncoder, load_blip
from qdrant_mm.encoders.clip import ClipEncoder, load_clip
from qdrant_mm.encoders.devices import compute_dtype, model_dtype, resolve_device
from qdrant_mm.encoders.interrogator import InterrogatorDescriber, load_interrogator
from qdrant_mm.encoders.text_window import MAX_TEXT_CHARS, head_for_window
from qdrant_mm.encoders.vocabulary import (
    Vocabulary,
    art_vocabulary,
    load_term_folder,
    product_vocabulary,
)
from qdrant_mm.errors import ConfigError, ModelLoadError
from qdrant_mm.testing import random_models as tiny_models

# --- helpers ----------------------------------------------------------------------------------


def sample_images(n: int = 6) -> list[Image.Image]:
    """Distinct small RGB images: noise and solid colours of different sizes."""
    rng = np.random.default_rng(7)
    colours = [(255, 0, 0), (0, 0, 255), (0, 0, 0), (255, 255, 255), (0, 160, 0)]
    out: list[Image.Image] = []
    for i in range(n):
        if i % 2 == 0:
            arr = rng.integers(0, 256, (30 + 3 * i, 40, 3), dtype=np.uint8)
            out.append(Image.fromarray(arr))
        else:
            out.append(Image.new("RGB", (48, 36 + i), colours[i % len(colours)]))
    return out


def mode_images() -> dict[str, Image.Image]:
    base = sample_images(1)[0].resize((40, 40))
    grad = np.linspace(0, 65535, 40 * 40).astype(np.uint16).reshape(40, 40)
    rgba = base.convert("RGBA")
    rgba.putalpha(128)
    return {
        "RGBA": rgba,
        "P": base.convert("P"),
        "L": base.convert("L"),
        "I;16": Image.fromarray(grad),
        "CMYK": base.convert("CMYK"),
        "LA": base.convert("LA"),
        "1": base.convert("1"),
        "F": Image.fromarray(grad.astype(np.float32) / 65535.0, "F"),
    }


def assert_unit_rows(x: np.ndarray, n: int, dim: int) -> None:
    assert x.shape == (n, dim)
    assert x.dtype == np.float32
    assert np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def all_terms(vocab: Vocabulary) -> set[str]:
    return {term for term_list in vocab.lists for term in term_list.terms}


def split_description(text: str, caption: str) -> list[str]:
    assert text.startswith(caption)
    rest = text[len(caption) :]
    return [t for t in rest.split(", ") if t]


# --- the bundle as load_models builds it -------------------------------------------------------


def test_bundle_is_built_from_settings(tiny_bundle: Any) -> None:
    assert isinstance(tiny_bundle.clip, ClipEncoder)
    assert isinstance(tiny_bundle.blip, BlipEncoder)
    assert isinstance(tiny_bundle.describer, InterrogatorDescriber)
    assert isinstance(tiny_bundle.clip, Encoder) and isinstance(tiny_bundle.blip, Encoder)
    assert isinstance(tiny_bundle.describer, Describer)
    assert isinstance(tiny_bundle.interrogator_text, TextEncoder)
    assert tiny_bundle.interrogator_text is tiny_bundle.clip
    assert tiny_bundle.interrogator_in_clip_space
    assert tiny_bundle.dims() == {
        "blip": tiny_models.BLIP_ITM_DIM,
        "clip": tiny_models.TINY_CLIP_CONFIG["embed_dim"],
        "interrogator": tiny_models.TINY_CLIP_CONFIG["embed_dim"],
    }
    ids = tiny_bundle.model_ids()
    assert ids["clip"].startswith("open_clip:tiny-clip#")
    assert ids["blip"].startswith("blip:blip-itm#")
    assert "blip-caption:blip-caption#" in ids["interrogator"]
    assert ids["clip"] in ids["interrogator"]
    assert tiny_bundle.clip.device == torch.device("cpu")


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_image_embeddings_shape_norm_dtype(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    x = enc.encode_images(sample_images(6))
    assert_unit_rows(x, 6, enc.dim)
    assert not np.allclose(x[0], x[1], atol=1e-3)  # different images, different vectors


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_text_embeddings_shape_norm_dtype(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    x = enc.encode_texts(["a red shirt", "blue leather bag", "", "ÄÖÜ ✓ 漢字"])
    assert_unit_rows(x, 4, enc.dim)


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_empty_input(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    assert enc.encode_images([]).shape == (0, enc.dim)
    assert enc.encode_texts([]).shape == (0, enc.dim)


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_deterministic(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    images = sample_images(3)
    np.testing.assert_array_equal(enc.encode_images(images), enc.encode_images(images))
    texts = ["a red shirt", "white mug"]
    np.testing.assert_array_equal(enc.encode_texts(texts), enc.encode_texts(texts))


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_batch_equals_one_by_one(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    images = sample_images(7)  # batch_size 4: two batches, the second one short
    batched = enc.encode_images(images)
    single = np.concatenate([enc.encode_images([img]) for img in images])
    # bf16 kernels may round a row differently with a different batch shape
    np.testing.assert_allclose(
        batched, single, atol=1e-5 if enc.compute_dtype != torch.bfloat16 else 2e-2
    )
    texts = ["a", "a red cotton shirt on a white background", "mug", "x " * 50, "two shoes"]
    batched = enc.encode_texts(texts)
    single = np.concatenate([enc.encode_texts([t]) for t in texts])
    np.testing.assert_allclose(
        batched, single, atol=1e-5 if enc.compute_dtype != torch.bfloat16 else 2e-2
    )


@pytest.mark.parametrize("channel", ["clip", "blip"])
@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "I;16", "CMYK", "LA", "1", "F"])
def test_every_pil_mode_is_accepted(tiny_bundle: Any, channel: str, mode: str) -> None:
    enc = getattr(tiny_bundle, channel)
    img = mode_images()[mode]
    assert img.mode == mode
    assert_unit_rows(enc.encode_images([img]), 1, enc.dim)


def test_sixteen_bit_image_is_not_white(tiny_bundle: Any) -> None:
    clip = tiny_bundle.clip
    white = clip.encode_images([Image.new("RGB", (40, 40), (255, 255, 255))])[0]
    grad = clip.encode_images([mode_images()["I;16"]])[0]
    assert float(white @ grad) < 0.9999


@pytest.mark.parametrize("channel", ["clip", "blip"])
def test_very_long_text_is_truncated(tiny_bundle: Any, channel: str) -> None:
    enc = getattr(tiny_bundle, channel)
    huge = "red cotton shirt " * 20_000
    long_ = "red cotton shirt " * 200
    x = enc.encode_texts([huge, long_])
    assert_unit_rows(x, 2, enc.dim)
    np.testing.assert_allclose(x[0], x[1], atol=1e-5)  # both cut at the context length


# --- truncation by tokens: what the tokenizer keeps of the whole text ----------------------------

URL = "https://shop.example.com/p?ref=" + "a" * 2469  # 2,500 characters, one "word"
LONG_TEXTS = {
    "long word": "x" * 1200 + " red shirt",
    "space run": " " * 3000 + "red shirt",
    "whitespace mix": "\n\t \r" * 800 + "red shirt",
    "long url": URL + " red shirt",
    "huge": "red cotton shirt " * 20_000,
}


def blip_reference(enc: BlipEncoder, text: str) -> np.ndarray:
    """BLIP's text embedding of the whole ``text`` as its tokenizer truncates it."""
    tokens = enc.processor.tokenizer(
        [text], truncation=True, max_length=enc.max_text_tokens, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = enc.model.text_encoder(**tokens).last_hidden_state
        return l2_normalize(enc.model.text_proj(hidden[:, 0, :]).float().numpy())[0]


def clip_reference(enc: ClipEncoder, text: str) -> np.ndarray:
    """open_clip's own text embedding of the whole ``text`` (its tokenizer truncates it)."""
    with torch.inference_mode():
        return l2_normalize(enc.model.encode_text(enc.tokenizer([text])).float().numpy())[0]


@pytest.fixture(scope="module")
def fp32_towers(tiny_model_settings: dict[str, Any]) -> dict[str, Any]:
    """The tiny BLIP and CLIP in fp32, so that the references compare bit for bit."""
    s = tiny_model_settings
    return {
        "blip": load_blip(s["blip_model"], "cpu", cpu_precision="fp32"),
        "clip": load_clip(s["clip_model"], s["clip_pretrained"], "cpu", cpu_precision="fp32"),
    }


@pytest.mark.parametrize("name", list(LONG_TEXTS))
@pytest.mark.parametrize("channel", ["blip", "clip"])
def test_text_is_truncated_by_tokens_not_characters(
    fp32_towers: dict[str, Any], channel: str, name: str
) -> None:
    enc = fp32_towers[channel]
    reference = blip_reference if channel == "blip" else clip_reference
    text = LONG_TEXTS[name]
    got = enc.encode_texts([text, "red shirt"])
    np.testing.assert_allclose(got[0], reference(enc, text), atol=2e-6)
    if name == "huge":
        return
    without = reference(enc, text.removesuffix("red shirt"))
    # The words after the long run count wherever the tokenizer has room for them: for BLIP
    # (a word over 100 characters is one [UNK] token) in every case, for CLIP after whitespace.
    if channel == "blip" or "space" in name or "whitespace" in name:
        assert float(got[0] @ without) < 0.9999, "the words after the long run were dropped"
    if "space" in name or "whitespace" in name:  # whitespace costs no token
        np.testing.assert_allclose(got[0], got[1], atol=2e-6)


def test_blip_keeps_red_shirt_after_1200_characters(fp32_towers: dict[str, Any]) -> None:
    enc = fp32_towers["blip"]
    seen: list[list[int]] = []
    tokenizer = enc.processor.tokenizer

    class Spy:
        def __call__(self, texts: Any, **kwargs: Any) -> Any:
            out = tokenizer(texts, **kwargs)
            if kwargs.get("return_tensors") == "pt":
                seen.extend(out["input_ids"].tolist())
            return out

        def __getattr__(self, name: str) -> Any:
            return getattr(tokenizer, name)

    text = "x" * 1200 + " red shirt"
    expected = tokenizer(text, truncation=True, max_length=enc.max_text_tokens)["input_ids"]
    enc.processor.tokenizer = Spy()
    try:
        enc.encode_texts([text])
    finally:
        enc.processor.tokenizer = tokenizer
    assert seen == [expected]
    words = tokenizer.convert_ids_to_tokens(expected)
    assert words[-3:] == ["red", "shirt", "[SEP]"]


def test_head_for_window_matches_whole_text_tokens(fp32_towers: dict[str, Any]) -> None:
    clip = fp32_towers["clip"]
    texts = [
        "red shirt",
        "striped cotton shirt " * 50,
        " " * 5000 + "red " * 100,
        "a" * 70_000 + " red",  # past MAX_TEXT_CHARS: cut without the check
        "word\t\n" * 3000,
    ]
    for text in texts:
        head = clip.head(text)
        assert text.startswith(head)
        assert len(head) <= MAX_TEXT_CHARS
        if len(text) <= MAX_TEXT_CHARS:
            assert torch.equal(clip.tokenize([head]), clip.tokenize([text]))
    assert len(clip.head("striped cotton shirt " * 50)) < len("striped cotton shirt " * 50)
    assert head_for_window("a b c d", lambda h: True, start_chars=3) == "a b"
    assert head_for_window("a    b", lambda h: False, start_chars=3) == "a    b"
    assert head_for_window("abcdef", lambda h: True, start_chars=2, max_chars=4) == "abcd"


# --- the interrogator ---------------------------------------------------------------------------


def test_descriptions_have_caption_and_terms(tiny_bundle: Any) -> None:
    describer = tiny_bundle.describer
    images = sample_images(5)
    captions = describer.captions(images)
    descriptions = describer.describe(images)
    assert len(descriptions) == len(images)
    assert len(set(captions)) > 1  # the tiny caption model does look at the image
    vocab_terms = all_terms(product_vocabulary())
    for caption, text in zip(captions, descriptions, strict=True):
        assert caption.strip()
        terms = split_description(text, caption)
        assert len(terms) >= 3
        assert set(terms) <= vocab_terms
    assert describer.describe([]) == []


def test_captions_batched_like_one_by_one(tiny_bundle: Any) -> None:
    describer = tiny_bundle.describer
    images = sample_images(6)
    assert describer.captions(images) == [describer.captions([img])[0] for img in images]
    assert all(len(c.split()) <= 8 for c in describer.captions(images))  # caption_max_length


def test_describe_is_deterministic_and_per_image(tiny_bundle: Any) -> None:
    describer = tiny_bundle.describer
    images = sample_images(4)
    together = describer.describe(images)
    assert together == describer.describe(images)
    assert together == [describer.describe([img])[0] for img in images]


def test_clip_model_is_shared(tiny_bundle: Any, tiny_model_settings: dict, monkeypatch) -> None:
    describer = tiny_bundle.describer
    assert describer.clip is tiny_bundle.clip
    assert describer.interrogator.clip_model is tiny_bundle.clip.model
    assert describer.interrogator.clip_preprocess is tiny_bundle.clip.preprocess

    calls: list[str] = []

    def forbid(name: str):
        def _fail(*args: Any, **kwargs: Any):
            calls.append(name)
            raise AssertionError(f"open_clip.{name} called")

        return _fail

    for name in ("create_model", "create_model_and_transforms", "create_model_from_pretrained"):
        monkeypatch.setattr(open_clip, name, forbid(name))
    fresh = load_interrogator(
        tiny_bundle.clip, caption_model=tiny_model_settings["caption_model"], batch_size=4
    )
    assert fresh.interrogator.clip_model is tiny_bundle.clip.model
    assert len(fresh.describe(sample_images(2))) == 2
    assert calls == []


def _count(monkeypatch, obj: Any, name: str) -> list[int]:
    counter = [0]
    original = getattr(obj, name)

    def wrapped(*args: Any, **kwargs: Any):
        counter[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapped)
    return counter


def test_given_clip_features_are_not_recomputed(tiny_bundle: Any, monkeypatch) -> None:
    describer = tiny_bundle.describer
    images = sample_images(3)
    features = tiny_bundle.clip.encode_images(images)
    encode_image = _count(monkeypatch, tiny_bundle.clip.model, "encode_image")
    with_features = describer.describe(images, clip_features=features)
    assert encode_image[0] == 0
    without = describer.describe(images)
    assert encode_image[0] >= 1
    assert with_features == without


def test_embed_products_computes_clip_once(tiny_bundle: Any, monkeypatch) -> None:
    encode_images = _count(monkeypatch, tiny_bundle.clip, "encode_images")
    images = sample_images(3)
    result = tiny_bundle.embed_products(images)
    assert encode_images[0] == 1
    assert len(result.descriptions) == 3
    for channel, dim in tiny_bundle.dims().items():
        assert_unit_rows(result.vectors[channel], 3, dim)


def test_wrong_clip_features_shape_is_refused(tiny_bundle: Any) -> None:
    with pytest.raises(ValueError, match="clip_features"):
        tiny_bundle.describer.describe(sample_images(2), clip_features=np.ones((2, 5)))


def test_product_vocabulary_builds_no_art_tables(tiny_bundle: Any, monkeypatch) -> None:
    import qdrant_mm.encoders.interrogator as interrogator_module

    built: list[str] = []
    original = interrogator_module.LabelTable

    def spy(labels: list[str], desc: str, ci: Any):
        built.append(desc)
        return original(labels, desc, ci)

    monkeypatch.setattr(interrogator_module, "LabelTable", spy)
    describer = InterrogatorDescriber(
        tiny_bundle.clip,
        tiny_bundle.describer.caption_model,
        tiny_bundle.describer.caption_processor,
        caption_id="tiny",
    )
    assert built == []  # tables are built lazily
    describer.describe(sample_images(1))
    assert sorted(built) == sorted(f"product-{t.name}" for t in product_vocabulary().lists)
    describer.describe(sample_images(2))
    assert len(built) == len(product_vocabulary().lists)  # built once per describer
    for attr in ("artists", "flavors", "mediums", "movements", "trendings", "negative"):
        assert not hasattr(describer.interrogator, attr)


def test_product_vocabulary_lists() -> None:
    vocab = product_vocabulary()
    names = [t.name for t in vocab.lists]
    assert names == ["product_types", "colors", "materials", "patterns", "fits", "styles"]
    for term_list in vocab.lists:
        assert 30 <= len(term_list.terms) <= 250
        assert len(set(term_list.terms)) == len(term_list.terms)
    assert vocab.vocab_id.startswith("product#")


def test_art_vocabulary_is_the_packages() -> None:
    from clip_interrogator import Config, load_list

    vocab = art_vocabulary()
    lists = {t.name: t.terms for t in vocab.lists}
    assert list(lists) == ["artists", "flavors", "mediums", "movements", "trendings"]
    for name in ("flavors", "mediums", "movements"):  # every line, as load_list reads it
        assert list(lists[name]) == load_list(Config.data_path, f"{name}.txt")
    flavors = lists["flavors"]
    assert any(t.startswith("#") for t in flavors) and "" in flavors
    assert len(set(flavors)) < len(flavors)  # repeated lines are kept too
    artists = load_list(Config.data_path, "artists.txt")
    assert list(lists["artists"]) == [f"by {a}" for a in artists] + [
        f"inspired by {a}" for a in artists
    ]
    assert len(lists["trendings"]) == 4 * 18
    assert vocab.vocab_id.startswith("art#")


def _write_lists(folder: Path, lists: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, terms in lists.items():
        (folder / f"{name}.txt").write_text("# comment\n" + "\n".join(terms) + "\n\n")
    return folder


@pytest.fixture(scope="module")
def art_pair(tiny_model_settings: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    """clip-interrogator's own ``Interrogator`` on the tiny fp32 CLIP and caption models, and a
    factory of our art describers on the same models.

    Nothing is downloaded or loaded by the package: the models are handed to its ``Config``,
    its tokenizer lookup returns the tiny CLIP's tokenizer and its cache download is refused.
    The package computes its tables (with its full lists) and saves them; our describers read
    those files, which they can only do if their lists, table names and label hashes are the
    package's.
    """
    import clip_interrogator.clip_interrogator as ci_module
    from clip_interrogator import Config, Interrogator
    from transformers import BlipForConditionalGeneration

    from qdrant_mm.encoders.blip import load_pretrained_blip

    s = tiny_model_settings
    clip = load_clip(s["clip_model"], s["clip_pretrained"], "cpu", cpu_precision="fp32")
    caption_model, processor, _ = load_pretrained_blip(
        BlipForConditionalGeneration, s["caption_model"], clip.device, setting="x", what="x"
    )
    cache = tmp_path_factory.mktemp("ci_cache")

    def ours(mode: str) -> InterrogatorDescriber:
        return InterrogatorDescriber(
            clip,
            caption_model,
            processor,
            caption_id="tiny",
            vocabulary=art_vocabulary(),
            mode=mode,
            caption_max_length=8,
            cache_dir=cache,
        )

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("clip-interrogator tried to download")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ci_module, "_download_file", no_download)
        mp.setattr(open_clip, "get_tokenizer", lambda *a, **k: clip.tokenizer)
        config = Config(
            caption_model_name="blip-base",  # with caption_model given: only names its kind
            caption_max_length=8,
            # file names of the cache, as ours: the package reads "<name>/<tag>"
            clip_model_name=ours("fast").interrogator.config.clip_model_name.replace("_", "/", 1),
            cache_path=str(cache),
            download_cache=False,
            device="cpu",
            quiet=True,
        )
        config.caption_model, config.caption_processor = caption_model, processor
        config.clip_model, config.clip_preprocess = clip.model, clip.preprocess
        reference = Interrogator(config)
        yield reference, ours


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*autocast.*:FutureWarning")
@pytest.mark.filterwarnings("ignore:.*CUDA is not available.*:UserWarning")
@pytest.mark.parametrize("mode", ["classic", "fast", "best"])
def test_art_vocabulary_is_clip_interrogators_output(art_pair: Any, mode: str, monkeypatch) -> None:
    reference, ours = art_pair
    describer = ours(mode)
    encode_text = _count(monkeypatch, describer.clip.model, "encode_text")
    describer.tables()
    assert encode_text[0] == 0  # the package's table files, read back: same lists and names
    for name in ("artists", "flavors", "mediums", "movements", "trendings"):
        assert getattr(describer.interrogator, name).labels == getattr(reference, name).labels
    images = sample_images(3 if mode != "best" else 2)
    if mode == "best":  # a shorter flavor chain on both sides, to keep the test short
        for ci in (reference, describer.interrogator):
            monkeypatch.setattr(ci.config, "flavor_intermediate_count", 256)
    got = describer.describe(images)
    if mode == "classic":
        want = [reference.interrogate_classic(img) for img in images]
    elif mode == "fast":
        want = [reference.interrogate_fast(img) for img in images]
    else:
        want = [reference.interrogate(img) for img in images]
    assert got == want
    captions = describer.captions(images)
    assert all(text.startswith(caption) for text, caption in zip(got, captions, strict=True))
    assert len(set(got)) == len(got)  # the images' own descriptions
    if mode == "classic":  # caption, medium artist, trending, movement, three flavors
        assert all(len(t.split(", ")) >= 5 for t in got)


@pytest.mark.parametrize("mode", ["classic", "best"])
def test_other_modes(tiny_bundle: Any, tmp_path: Path, mode: str) -> None:
    vocab = load_term_folder(
        _write_lists(
            tmp_path / "terms",
            {"colors": ["red", "blue", "green", "black"], "items": ["shirt", "mug", "lamp"]},
        )
    )
    describer = InterrogatorDescriber(
        tiny_bundle.clip,
        tiny_bundle.describer.caption_model,
        tiny_bundle.describer.caption_processor,
        caption_id="tiny",
        vocabulary=vocab,
        mode=mode,
    )
    images = sample_images(3)
    captions = describer.captions(images)
    for caption, text in zip(captions, describer.describe(images), strict=True):
        terms = split_description(text, caption)
        assert set(terms) <= all_terms(vocab)
        if mode == "classic":
            assert len(terms) == 2
            assert terms[0] in vocab.lists[0].terms and terms[1] in vocab.lists[1].terms
    assert f"interrogator:{mode}|vocab=custom#" in describer.model_id


def test_custom_terms_folder_through_settings(tiny_model_settings: dict, tmp_path: Path) -> None:
    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.settings import Settings

    folder = _write_lists(tmp_path / "mine", {"shapes": ["round", "square", "oval"]})
    settings = Settings(_env_file=None, **{**tiny_model_settings, "interrogator_terms": folder})
    bundle = load_models(settings)
    text = bundle.describer.describe(sample_images(1))[0]
    assert text.split(", ")[-1] in {"round", "square", "oval"}
    assert "vocab=custom#" in bundle.describer.model_id


def test_bad_terms_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="QDRANT_MM_INTERROGATOR_TERMS"):
        load_term_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="QDRANT_MM_INTERROGATOR_TERMS"):
        load_term_folder(tmp_path / "empty")


def test_term_embeddings_cached_on_disk_never_downloaded(
    tiny_bundle: Any, tmp_path: Path, monkeypatch
) -> None:
    import clip_interrogator.clip_interrogator as ci_module

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("clip-interrogator tried to download its cache")

    monkeypatch.setattr(ci_module, "_download_file", no_download)
    source = tiny_bundle.describer

    def make() -> InterrogatorDescriber:
        return InterrogatorDescriber(
            tiny_bundle.clip,
            source.caption_model,
            source.caption_processor,
            caption_id="tiny",
            cache_dir=tmp_path / "cache",
        )

    first = make()
    expected = first.describe(sample_images(2))
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(files) == len(product_vocabulary().lists)
    assert all(f.endswith(".safetensors") for f in files)

    encode_text = _count(monkeypatch, tiny_bundle.clip.model, "encode_text")
    second = make()
    second.tables()
    assert encode_text[0] == 0  # read back from disk
    np.testing.assert_allclose(
        second.tables()[0].embeds,
        first.tables()[0].embeds,
        atol=2e-3,  # stored as fp16
    )
    assert second.describe(sample_images(2)) == expected


def test_bad_mode_refused(tiny_bundle: Any) -> None:
    with pytest.raises(ConfigError, match="MODE"):
        InterrogatorDescriber(
            tiny_bundle.clip,
            tiny_bundle.describer.caption_model,
            tiny_bundle.describer.caption_processor,
            caption_id="tiny",
            mode="slow",
        )


# --- loading: ids, errors, offline ----------------------------------------------------------


def test_model_id_follows_the_weights(tiny_model_settings: dict, tmp_path: Path) -> None:
    config = tiny_model_settings["clip_model"]
    base = load_clip(config, tiny_model_settings["clip_pretrained"], "cpu")
    _, other_ckpt = tiny_models.build_tiny_clip(tmp_path / "seed1", seed=1)
    other = load_clip(config, str(other_ckpt), "cpu")
    assert other.model_id != base.model_id
    # The same bytes elsewhere (and under another name of the folder) keep the same id.
    moved = tmp_path / "moved" / Path(tiny_model_settings["clip_pretrained"]).name
    moved.parent.mkdir()
    shutil.copy(tiny_model_settings["clip_pretrained"], moved)
    assert load_clip(config, str(moved), "cpu").model_id == base.model_id
    assert not np.allclose(
        base.encode_texts(["red shirt"]), other.encode_texts(["red shirt"]), atol=1e-3
    )

    blip_base = load_blip(tiny_model_settings["blip_model"], "cpu")
    blip_other = load_blip(str(tiny_models.build_tiny_blip_itm(tmp_path / "blip1", 1)), "cpu")
    assert blip_other.model_id != blip_base.model_id
    assert blip_base.model_id.startswith("blip:blip-itm#")


def test_model_id_of_hub_weights_is_readable() -> None:
    # No loading: the ids of tag / hub weights are built from their names.
    from qdrant_mm.encoders.clip import _resolve_architecture, _resolve_pretrained

    assert _resolve_architecture(" ViT-B-32 ") == ("ViT-B-32", "ViT-B-32", None)
    assert _resolve_architecture("hf-hub:org/clip-x") == (
        "hf-hub:org/clip-x",
        "hf-hub:org/clip-x",
        "hf-hub",
    )
    # open_clip accepts tags in any case and with - for _: the id label is one spelling
    assert _resolve_pretrained("ViT-B-32", "OpenAI", "ViT-B-32") == ("OpenAI", "openai")
    assert _resolve_pretrained("ViT-B-32", "laion2b-s34b-b79k", "ViT-B-32") == (
        "laion2b-s34b-b79k",
        "laion2b_s34b_b79k",
    )
    with pytest.raises(ModelLoadError, match="neither an open_clip architecture"):
        _resolve_architecture("ViT-Nope-1")
    with pytest.raises(ModelLoadError, match=r"known tags: .*laion2b_s34b_b79k"):
        _resolve_pretrained("ViT-B-32", "no-such-tag", "ViT-B-32")


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch) -> Path:
    """An empty HF cache, so that 'offline' cannot be satisfied by a model cached earlier."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


@pytest.mark.usefixtures("empty_hub_cache")
def test_clip_tag_fails_offline_with_clear_error() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_clip("ViT-B-32", "openai", "cpu")
    message = str(info.value)
    assert "QDRANT_MM_CLIP_MODEL='ViT-B-32'" in message
    assert "QDRANT_MM_CLIP_PRETRAINED='openai'" in message


@pytest.mark.parametrize(
    ("hub_id", "loader"),
    [
        ("Salesforce/blip-itm-base-coco", "blip"),
        ("Salesforce/blip-image-captioning-base", "caption"),
    ],
)
@pytest.mark.usefixtures("empty_hub_cache")
def test_hub_ids_fail_offline_with_clear_error(tiny_bundle: Any, hub_id: str, loader: str) -> None:
    with pytest.raises(ModelLoadError) as info:
        if loader == "blip":
            load_blip(hub_id, "cpu")
        else:
            load_interrogator(tiny_bundle.clip, caption_model=hub_id)
    setting = "QDRANT_MM_BLIP_MODEL" if loader == "blip" else "QDRANT_MM_CAPTION_MODEL"
    assert f"{setting}={hub_id!r}" in str(info.value)


def test_bad_clip_values_name_the_setting(tiny_model_settings: dict, tmp_path: Path) -> None:
    config = tiny_model_settings["clip_model"]
    with pytest.raises(ModelLoadError, match="QDRANT_MM_CLIP_MODEL.*No-Such-Arch"):
        load_clip("No-Such-Arch", "openai", "cpu")
    with pytest.raises(ModelLoadError, match="QDRANT_MM_CLIP_PRETRAINED.*missing.pt"):
        load_clip(config, str(tmp_path / "missing.pt"), "cpu")
    with pytest.raises(ModelLoadError, match="QDRANT_MM_CLIP_PRETRAINED.*'laion'"):
        load_clip(config, "laion", "cpu")  # a custom config has no tags
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ModelLoadError, match="QDRANT_MM_CLIP_MODEL.*not an open_clip model"):
        load_clip(str(bad), tiny_model_settings["clip_pretrained"], "cpu")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelLoadError, match="garbage.pt"):
        load_clip(config, str(garbage), "cpu")


def test_missing_blip_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="QDRANT_MM_BLIP_MODEL.*missing"):
        load_blip(str(tmp_path / "missing"), "cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="QDRANT_MM_BLIP_MODEL"):
        load_blip(str(empty), "cpu")


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_sockets_are_blocked_in_tests() -> None:
    from pytest_socket import SocketBlockedError

    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(("127.0.0.1", 9))


# --- devices ------------------------------------------------------------------------------------


def test_resolve_device(monkeypatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="QDRANT_MM_DEVICE.*CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="QDRANT_MM_DEVICE"):
        resolve_device("gpu")
    assert model_dtype(torch.device("cpu")) == torch.float32
    assert model_dtype(torch.device("cuda")) == torch.float16


def test_compute_dtype_follows_the_cpu_precision_setting(monkeypatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compute_dtype(cuda, "auto") == compute_dtype(cuda, "fp32") == torch.float16
    assert compute_dtype(cpu, "fp32") == torch.float32
    assert compute_dtype(cpu, "bf16") == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert compute_dtype(cpu, "auto") == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert compute_dtype(cpu, "auto") == torch.float32  # emulated bf16 is slower than fp32
    with pytest.raises(ConfigError, match="QDRANT_MM_CPU_PRECISION.*'fp16'"):
        compute_dtype(cpu, "fp16")


def _linear_output_dtypes(model: torch.nn.Module) -> list[torch.dtype]:
    """Record the dtype each ``nn.Linear`` of ``model`` computes in (forward hooks)."""
    seen: list[torch.dtype] = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


def test_bf16_on_cpu_runs_every_model_in_bf16_close_to_fp32(
    tiny_model_settings: dict[str, Any],
) -> None:
    """With cpu_precision=bf16 BLIP, CLIP and the caption model compute in bf16, images and
    text alike, and the embeddings stay close to fp32; with fp32, nothing runs in bf16."""
    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.settings import Settings

    images = sample_images(5)
    texts = ["a red shirt", "blue leather bag"]
    bundles = {
        p: load_models(Settings(_env_file=None, **{**tiny_model_settings, "cpu_precision": p}))
        for p in ("fp32", "bf16")
    }
    for precision, bundle in bundles.items():
        want = torch.bfloat16 if precision == "bf16" else torch.float32
        for enc in (bundle.blip, bundle.clip):
            for run in (
                lambda enc=enc: enc.encode_images(images),
                lambda enc=enc: enc.encode_texts(texts),
            ):
                seen = _linear_output_dtypes(enc.model)
                run()
                assert seen and set(seen) == {want}, (precision, enc)
        for n in (4, 1):
            seen = _linear_output_dtypes(bundle.describer.caption_model)
            bundle.describer.captions(images[:n])
            assert seen and set(seen) == {want}, (precision, n)
    for channel in ("blip", "clip"):
        for encode, data in (("encode_images", images), ("encode_texts", texts)):
            full = getattr(getattr(bundles["fp32"], channel), encode)(data)
            half = getattr(getattr(bundles["bf16"], channel), encode)(data)
            assert not np.array_equal(full, half), (channel, encode)  # bf16 really ran
            assert (full * half).sum(axis=1).min() > 0.99, (channel, encode)
    # The term tables are computed by clip-interrogator's own calls to the CLIP model: they run
    # under the encoder's autocast (bf16 weights would refuse fp32 input otherwise).
    tables = {p: bundles[p].describer.tables() for p in bundles}
    for full, half in zip(tables["fp32"], tables["bf16"], strict=True):
        assert full.labels == half.labels
        assert not np.array_equal(full.embeds, half.embeds)
        assert (full.embeds * half.embeds).sum(axis=1).min() > 0.99, full.name


def test_bf16_weights_stored_up_front_give_exactly_autocast_results(
    tiny_model_settings: dict[str, Any],
) -> None:
    """The loaders store the matrix weights in bf16 (faster); for BLIP the results are bit for
    bit those of bf16 autocast over the fp32 weights. Tied embeddings stay fp32."""
    from transformers import BlipForConditionalGeneration, BlipForImageTextRetrieval

    from qdrant_mm.encoders.blip import load_pretrained_blip
    from qdrant_mm.encoders.interrogator import CAPTION_SETTING
    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.settings import Settings

    settings = {**tiny_model_settings, "cpu_precision": "bf16"}
    bundle = load_models(Settings(_env_file=None, **settings))
    cpu = torch.device("cpu")
    assert bundle.blip.model.vision_proj.weight.dtype == torch.bfloat16
    assert bundle.blip.model.text_proj.weight.dtype == torch.bfloat16
    embeddings = bundle.describer.caption_model.get_input_embeddings()
    assert embeddings.weight.dtype == torch.float32
    images = sample_images(5)
    texts = ["a red shirt", "blue leather bag", "x"]

    net, processor, _ = load_pretrained_blip(
        BlipForImageTextRetrieval, settings["blip_model"], cpu, setting="x", what="x"
    )
    autocast_only = BlipEncoder(
        net, processor, model_id="x", device=cpu, compute_dtype=torch.bfloat16
    )
    assert next(net.vision_model.parameters()).dtype == torch.float32
    np.testing.assert_array_equal(
        autocast_only.encode_images(images), bundle.blip.encode_images(images)
    )
    np.testing.assert_array_equal(
        autocast_only.encode_texts(texts), bundle.blip.encode_texts(texts)
    )
    clip32 = load_clip(
        settings["clip_model"], settings["clip_pretrained"], cpu, cpu_precision="fp32"
    )
    clip_autocast = ClipEncoder(
        clip32.model,
        clip32.preprocess,
        clip32.tokenizer,
        model_id="x",
        device=cpu,
        open_clip_name=clip32.open_clip_name,
        compute_dtype=torch.bfloat16,
    )
    # CLIP: open_clip's attention takes another kernel path with bf16 input projections, so
    # the match is to bf16 precision, not bit for bit.
    for encode, data in (("encode_images", images), ("encode_texts", texts)):
        ref = getattr(clip_autocast, encode)(data)
        got = getattr(bundle.clip, encode)(data)
        assert (ref * got).sum(axis=1).min() > 0.999, encode

    caption_net, caption_processor, _ = load_pretrained_blip(
        BlipForConditionalGeneration,
        settings["caption_model"],
        cpu,
        setting=CAPTION_SETTING,
        what="x",
    )
    reference = InterrogatorDescriber(
        bundle.clip,
        caption_net,
        caption_processor,
        caption_id="x",
        caption_max_length=bundle.describer.caption_max_length,
        compute_dtype=torch.bfloat16,
    )
    assert reference.captions(images) == bundle.describer.captions(images)
    # A describer built around the prepared model computes in bf16 by itself.
    rebuilt = InterrogatorDescriber(
        bundle.clip,
        bundle.describer.caption_model,
        bundle.describer.caption_processor,
        caption_id="x",
        caption_max_length=bundle.describer.caption_max_length,
    )
    assert rebuilt.compute_dtype == torch.bfloat16
    assert rebuilt.captions(images[:2]) == bundle.describer.captions(images[:2])


def test_resolve_device_prefers_cuda_when_available(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


# --- sentence-transformers (optional) --------------------------------------------------------


def test_sentence_encoder_missing_package_is_clear(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # `import` fails
    from qdrant_mm.encoders.sentence import load_sentence_encoder

    with pytest.raises(ModelLoadError, match="sentence-transformers"):
        load_sentence_encoder("all-MiniLM-L6-v2", "cpu")


def test_sentence_encoder(tmp_path: Path, tiny_model_settings: dict) -> None:
    pytest.importorskip("sentence_transformers", reason="the 'sentence' extra is not installed")
    from sentence_transformers import SentenceTransformer
    from transformers import BertConfig, BertModel

    from qdrant_mm.encoders.sentence import SentenceTextEncoder, load_sentence_encoder

    bert_dir = tmp_path / "bert"
    tokenizer, _ = tiny_models._tokenizer_and_processor(tmp_path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tiny_models.VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(bert_dir)
    tokenizer.save_pretrained(bert_dir)
    # A plain transformers folder becomes a sentence model with mean pooling.
    SentenceTransformer(str(bert_dir), device="cpu").save(str(tmp_path / "st"))
    enc = load_sentence_encoder(str(tmp_path / "st"), "cpu", batch_size=2)
    assert isinstance(enc, SentenceTextEncoder)
    assert isinstance(enc, TextEncoder)
    x = enc.encode_texts(["a red shirt", "mug " * 1000, "blue"])
    assert_unit_rows(x, 3, 32)
    assert enc.model_id.startswith("sentence:st#")
    assert enc.encode_texts([]).shape == (0, 32)
    # truncation by tokens: what sentence-transformers itself keeps of the whole text
    for text in LONG_TEXTS.values():
        whole = enc.model.encode([text], convert_to_numpy=True, normalize_embeddings=True)
        np.testing.assert_allclose(enc.encode_texts([text])[0], whole[0], atol=2e-6)
    spaced = enc.encode_texts([" " * 3000 + "red shirt", "red shirt", "x" * 1200 + " red shirt"])
    np.testing.assert_allclose(spaced[0], spaced[1], atol=2e-6)
    assert float(spaced[2] @ enc.encode_texts(["x" * 1200])[0]) < 0.9999

    from qdrant_mm.encoders.loading import load_models
    from qdrant_mm.settings import Settings

    overrides = {**tiny_model_settings, "interrogator_text_model": str(tmp_path / "st")}
    bundle = load_models(Settings(_env_file=None, **overrides))
    assert isinstance(bundle.interrogator_text, SentenceTextEncoder)
    assert not bundle.interrogator_in_clip_space
    query = bundle.encode_query_image(sample_images(1)[0], ["interrogator"])
    assert query["interrogator"].shape == (32,)
    result = bundle.embed_products(sample_images(2))
    assert_unit_rows(result.vectors["interrogator"], 2, 32)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_clip_text_features_ignore_padding_after_end_of_text(
    tiny_model_settings: dict[str, Any], precision: str
) -> None:
    """The trimmed text forward equals open_clip's full 77-token ``encode_text``: exactly in
    fp32, to bf16 precision in bf16 (other kernel shapes)."""
    clip = load_clip(
        tiny_model_settings["clip_model"],
        tiny_model_settings["clip_pretrained"],
        "cpu",
        cpu_precision=precision,
    )
    texts = ["red shoe", "a long striped cotton shirt with a floral pattern " * 3, ""]
    tokens = clip.tokenize(texts)
    with torch.inference_mode(), devices.autocast(clip.device, clip.compute_dtype):
        full = clip.model.encode_text(tokens).float()
        trimmed = clip._encode_tokens(tokens).float()
    assert int(tokens.argmax(dim=-1).max()) + 1 < tokens.shape[1]  # padding was dropped
    tol = 1e-5 if precision == "fp32" else 2e-2
    torch.testing.assert_close(trimmed, full, atol=tol, rtol=tol)
