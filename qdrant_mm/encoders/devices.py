"""Device and dtype choice shared by all encoders."""

from __future__ import annotations

import torch

from qdrant_mm.errors import ConfigError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """Turn ``auto`` / ``cpu`` / ``cuda`` (or ``cuda:N``) into a :class:`torch.device`.

    ``auto`` picks CUDA when available. Asking for CUDA without one raises :class:`ConfigError`.
    """
    if isinstance(name, torch.device):
        name = str(name)
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"QDRANT_MM_DEVICE: {name!r} was asked for but CUDA is not available here"
                " (use 'cpu' or 'auto')"
            )
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise ConfigError(f"QDRANT_MM_DEVICE: invalid device {name!r}: {exc}") from None
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"QDRANT_MM_DEVICE: {name!r} does not exist"
                f" ({torch.cuda.device_count()} CUDA device(s) found)"
            )
        return device
    raise ConfigError(f"QDRANT_MM_DEVICE: must be one of auto, cpu, cuda (got {name!r})")


CPU_PRECISIONS = ("auto", "fp32", "bf16")


def model_dtype(device: torch.device) -> torch.dtype:
    """The dtype the weights are stored in: fp16 on CUDA, fp32 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.float32


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX or AVX512-BF16).

    Without it, bf16 on the CPU is emulated and slower than fp32."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for name in checks:
        check = getattr(torch.cpu, name, None)
        try:
            if check is not None and check():
                return True
        except RuntimeError:  # pragma: no cover - depends on the torch build
            continue
    return False


def compute_dtype(device: torch.device, cpu_precision: str = "auto") -> torch.dtype:
    """The dtype the models compute in.

    fp16 on CUDA. On the CPU: bf16 with ``cpu_precision="bf16"``, or with ``"auto"`` where the
    CPU has native bf16 (:func:`cpu_has_native_bf16`); fp32 otherwise. bf16 runs under autocast,
    so that layer norms and softmax keep fp32 accuracy, and the loaders store the matrix weights
    in bf16 up front (:func:`store_linear_weights`). Measured with the real-size models
    (``benchmarks/ingest.py``, ``benchmarks/query_latency.py``; ``docs/benchmarks.md``): ingest
    ~2.4x and a text query ~1.4x faster than fp32 on an AMX CPU, each model's embedding of the
    same input at cosine >= 0.9999 to fp32 (the interrogator's text can differ more: near-tied
    terms may rank the other way).
    """
    if cpu_precision not in CPU_PRECISIONS:
        raise ConfigError(
            f"QDRANT_MM_CPU_PRECISION: must be one of {', '.join(CPU_PRECISIONS)}"
            f" (got {cpu_precision!r})"
        )
    if device.type == "cuda":
        return torch.float16
    if cpu_precision == "bf16" or (cpu_precision == "auto" and cpu_has_native_bf16()):
        return torch.bfloat16
    return torch.float32


def store_linear_weights(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Keep the weights and biases of every ``nn.Linear`` (and the input projections of every
    ``nn.MultiheadAttention``) of ``model`` in ``dtype``, except weights shared with an
    ``nn.Embedding`` (a tied output layer).

    For bf16 work under autocast on the CPU: autocast casts fp32 weights to bf16 on every call
    (it does not cache them under inference mode), which costs more than the matrix products for
    a caption decoder's one-token steps. Stored in bf16 up front, the results are bit for bit
    those of autocast over fp32 weights (tested), and caption generation is 1.7x faster (BLIP
    base captioning, 0.38 vs 0.67 s per image at 8 images a batch, measured). Those layers then
    need autocast to run.
    """
    tied = {
        id(param)
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding)
        for param in module.parameters()
    }
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and id(module.weight) not in tied:
            params = (module.weight, module.bias)
        elif isinstance(module, torch.nn.MultiheadAttention):  # open_clip's attention
            params = (module.in_proj_weight, module.in_proj_bias)
        else:
            continue
        for param in params:
            if param is not None:
                param.data = param.data.to(dtype)


def prepare_weights(
    model: torch.nn.Module, device: torch.device, cpu_precision: str
) -> torch.dtype:
    """Get a loaded ``model`` ready to compute in :func:`compute_dtype`: where that differs from
    the dtype it was loaded in (bf16 on the CPU), store its matrix weights in it. Returns it."""
    dtype = compute_dtype(device, cpu_precision)
    if dtype != model_dtype(device):
        store_linear_weights(model, dtype)
    return dtype


def linear_dtype(module: torch.nn.Module) -> torch.dtype | None:
    """The dtype of the first ``nn.Linear`` weight in ``module`` (None without one): bf16 when
    :func:`store_linear_weights` prepared it for bf16 work."""
    for sub in module.modules():
        if isinstance(sub, torch.nn.Linear):
            return sub.weight.dtype
    return None


def autocast(device: torch.device, dtype: torch.dtype | None = None) -> torch.autocast:
    """An autocast context computing in ``dtype`` (default :func:`model_dtype`: fp16 on CUDA),
    or a disabled one when that is fp32."""
    dtype = dtype or model_dtype(device)
    if dtype == torch.float32:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)
