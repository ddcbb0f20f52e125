"""Write the musicnn weights that ship with sk_hier, from the ``musicnn`` wheel.

Reads the wheel's TensorFlow checkpoint of a pretrained musicnn network through
``sk_hier.embeddings.musicnn.musicnn_state_dict`` (no TensorFlow needed), and writes

- ``sk_hier/embeddings/data/<model>.npz``: the converted state_dict, floating arrays
  as float32, compressed; readable with ``np.load(allow_pickle=False)``;
- ``sk_hier/embeddings/data/LICENSE-musicnn.txt``: the ISC notice of musicnn, copied
  from the wheel's metadata, which its licence requires to travel with the weights.

Run it once per musicnn release; the files are committed as package data::

    pip install --no-deps musicnn==0.1.0
    python scripts/export_musicnn_weights.py
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "sk_hier" / "embeddings" / "data"


def licence_text() -> str:
    """The musicnn licence notice from the installed wheel's metadata, with its source."""
    dist = importlib.metadata.distribution("musicnn")
    notice = next(
        (dist.read_text(n) for n in ("LICENSE.md", "LICENSE", "LICENSE.txt") if dist.read_text(n)),
        None,
    )
    if notice is None:
        sys.exit("The installed musicnn wheel carries no licence file; reinstall musicnn==0.1.0.")
    meta = dist.metadata
    return (
        f"The musicnn weights in this folder come from musicnn {dist.version} "
        f"({meta.get('Home-page')}), licence {meta.get('License')}, converted to plain "
        "arrays for PyTorch. Its notice:\n\n" + notice.strip() + "\n"
    )


def arrays(model: str) -> dict[str, np.ndarray]:
    """The converted state_dict, floating arrays as float32 (the network runs in it)."""
    from sk_hier.embeddings._weights import wheel_state_dict

    out = {}
    for key, value in wheel_state_dict(model).items():
        value = np.asarray(value)
        out[key] = value.astype(np.float32) if value.dtype.kind == "f" else value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="MTT_musicnn", help="default: MTT_musicnn")
    parser.add_argument("--out-dir", default=str(DATA), help=f"default: {DATA}")
    args = parser.parse_args(argv)
    from sk_hier._io import atomic_write

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays(args.model))
    atomic_write(out / f"{args.model}.npz", buffer.getvalue())
    atomic_write(out / "LICENSE-musicnn.txt", licence_text())
    size = (out / f"{args.model}.npz").stat().st_size
    print(f"wrote {out / (args.model + '.npz')} ({size / 1e6:.2f} MB) and LICENSE-musicnn.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
