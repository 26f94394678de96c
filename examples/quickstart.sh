#!/usr/bin/env bash
# The main job on the embedded default (Qdrant Edge under ./qdrant_data): sync the example shop,
# then search it by text and by photo.
#
# With the Hugging Face hub reachable, the real weights are used. Without one, small
# random-weight models are built once under .qdrant-mm/models (`qdrant-mm demo-models`, reused
# on later runs) and their settings written to ./.env, so every later qdrant-mm command run here
# (the README's "Using it" block) uses them too. The pipeline then runs end to end, but the
# rankings are meaningless (near chance).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${QDRANT_MM_CLIP_PRETRAINED:-}" ] && ! grep -qs '^QDRANT_MM_CLIP_PRETRAINED=' .env \
  && ! python -c "
import sys, httpx
try:
    httpx.head('https://huggingface.co', timeout=3)
except Exception:
    sys.exit(1)
" 2>/dev/null; then
  echo "==> No model hub reachable: using RANDOM-WEIGHT models (rankings will be meaningless)." >&2
  qdrant-mm demo-models .qdrant-mm/models
elif grep -qs '^QDRANT_MM_CLIP_PRETRAINED=.*\.qdrant-mm/models' .env; then
  echo "==> ./.env names the RANDOM-WEIGHT demo models (rankings will be meaningless):" \
    "remove their lines from .env to use the real models." >&2
fi

echo "==> qdrant-mm sync examples/shop/catalog.jsonl"
qdrant-mm sync examples/shop/catalog.jsonl
echo "==> qdrant-mm search \"black ankle boot\" --limit 5"
qdrant-mm search "black ankle boot" --limit 5
echo "==> qdrant-mm search --image examples/shop/images/fm-00000.png --weights 0.4,0.4,0.2 --limit 5"
qdrant-mm search --image examples/shop/images/fm-00000.png --weights 0.4,0.4,0.2 --limit 5
echo "==> qdrant-mm search \"bag\" --filter \"price<=150\" --limit 3 --json"
qdrant-mm search "bag" --filter "price<=150" --limit 3 --json
