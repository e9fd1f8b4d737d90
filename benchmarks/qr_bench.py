"""QR transfer benchmark: payload per code, frames per file size, speed, RaptorQ overhead.

Peers measured in the same run:
- writing: python-qrcode (the usual Python QR writer) against zxing-cpp's writer, which we use;
- payload: Base64 text in byte mode (what text-only QR transfer tools commonly do) against our
  Base45 text in alphanumeric mode;
- decoding: zxing-cpp on clean frames and on JPEG-50 frames rotated by 5 degrees.

Run: .venv/bin/python benchmarks/qr_bench.py [--quick]. Prints tables and writes
benchmarks/results/qr_bench.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import raptorq  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from mirrorkit.qr import render, transfer  # noqa: E402
from mirrorkit.qr.decode import read_texts  # noqa: E402


def payload_table(versions: list[int]) -> list[dict[str, object]]:
    """Bytes of file data per code, against what the symbol could hold."""
    rows = []
    for version in versions:
        for ecc in "LMQH":
            chars = render.alnum_capacity(version, ecc)
            raw = render.byte_capacity(version, ecc)
            symbol = transfer.max_symbol_size(chars)
            # The peer: Base64 text in byte mode, same header and packet layout.
            b64_bytes = (raw - len(transfer.PREFIX)) // 4 * 3 - transfer.HEADER_BYTES
            rows.append({
                "version": version, "ecc": ecc, "alnum_chars": chars, "byte_capacity": raw,
                "alnum_capacity_bytes": chars * 2 // 3,
                "payload_bytes": symbol,
                "vs_alnum_capacity": round(symbol / (chars * 2 / 3), 4),
                "vs_byte_capacity": round(symbol / raw, 4),
                "base64_byte_mode_payload": b64_bytes // 8 * 8,
            })
    return rows


def frames_table(sizes: list[int], version: int, ecc: str, extra: float) -> list[dict[str, int]]:
    """K and the number of codes printed, per file size."""
    symbol = transfer.max_symbol_size(render.alnum_capacity(version, ecc))
    rows = []
    for size in sizes:
        k = transfer.symbols_needed(size + 2 + 10 + 32, symbol)  # + the object's manifest
        rows.append({"bytes": size, "version": version, "ecc": ecc, "needed_K": k,
                     "codes_with_extra": k + math.ceil(k * extra / 100), "extra_percent": extra})
    return rows


def time_writers(n: int) -> dict[str, object]:
    """Encode time per version-20-M code: zxing-cpp (ours) against python-qrcode (peer)."""
    import qrcode
    import qrcode.util

    enc = transfer.encode_bytes(random.Random(1).randbytes(616 * n), "b", 616, 0)
    texts = enc.frames[:n]
    t0 = time.perf_counter()
    for text in texts:
        img = render.image(text, "M", 20)
        render.png_bytes(img.resize((img.width * 4, img.height * 4), Image.NEAREST))
    ours = (time.perf_counter() - t0) / len(texts)
    failures = 0
    t0 = time.perf_counter()
    for text in texts:
        code = qrcode.QRCode(version=20, error_correction=qrcode.constants.ERROR_CORRECT_M)
        code.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_ALPHA_NUM))
        try:
            code.make(fit=False)
            img = code.make_image().get_image()
            img.save(io.BytesIO(), "PNG")
        except ValueError:
            failures += 1  # python-qrcode 8.2's glog(0) bug
    peer = (time.perf_counter() - t0) / len(texts)
    return {"frames": len(texts), "zxing_cpp_ms": round(ours * 1000, 2),
            "python_qrcode_ms": round(peer * 1000, 2), "python_qrcode_failures": failures}


def time_decode(tmp: Path, n: int) -> dict[str, object]:
    """Decode time per frame: clean PNG, JPEG-50 rotated 5 degrees, Gaussian blur sigma 2."""
    enc = transfer.encode_bytes(random.Random(2).randbytes(616 * n), "b", 616, 0)
    clean, rough, blurred = [], [], []
    for i, text in enumerate(enc.frames[:n]):
        small = render.image(text, "M", 20)
        img = small.resize((small.width * 4, small.height * 4), Image.NEAREST)
        p = tmp / f"c{i}.png"
        img.save(p)
        clean.append(p)
        q = tmp / f"r{i}.jpg"
        img.convert("RGB").rotate(5, expand=True, fillcolor="white",
                                  resample=Image.BICUBIC).save(q, quality=50)
        rough.append(q)
        b = tmp / f"b{i}.jpg"
        img.convert("RGB").filter(ImageFilter.GaussianBlur(2)).save(b, quality=60)
        blurred.append(b)
    out = {}
    for label, paths in (("clean_png", clean), ("jpeg50_rot5", rough), ("blur2_jpeg", blurred)):
        t0 = time.perf_counter()
        ok = sum(1 for p in paths if read_texts(p))
        out[label + "_ms"] = round((time.perf_counter() - t0) / len(paths) * 1000, 2)
        out[label + "_read"] = f"{ok}/{len(paths)}"
    return out


def raptorq_overhead(size: int, symbol: int, trials: int, loss: float) -> dict[str, object]:
    """Packets needed to decode, against K, over `trials` random loss patterns."""
    rng = random.Random(size)
    data = rng.randbytes(size)
    k = math.ceil(size / symbol)
    packets = raptorq.Encoder.with_defaults(data, symbol).get_encoded_packets(k + 10)
    extra_needed = []
    for _ in range(trials):
        survivors = [p for p in packets if rng.random() > loss]
        rng.shuffle(survivors)
        decoder = raptorq.Decoder.with_defaults(size, symbol)
        for used, packet in enumerate(survivors, 1):
            if decoder.decode(packet) is not None:
                extra_needed.append(used - k)
                break
        else:
            extra_needed.append(-1)  # not enough survivors this time
    done = [e for e in extra_needed if e >= 0]
    return {"bytes": size, "symbol": symbol, "K": k, "trials": trials, "loss": loss,
            "mean_extra": round(statistics.mean(done), 3) if done else None,
            "k_plus_0": sum(e == 0 for e in done), "k_plus_1": sum(e == 1 for e in done),
            "k_plus_2_or_more": sum(e >= 2 for e in done),
            "too_few_survivors": extra_needed.count(-1)}


def round_trip(tmp: Path, size: int) -> dict[str, object]:
    """A whole file through encode_file and decode_inputs, wall time."""
    from mirrorkit.qr.decode import decode_inputs
    from mirrorkit.qr.encode import encode_file

    src = tmp / f"rt-{size}.bin"
    src.write_bytes(random.Random(size).randbytes(size))
    t0 = time.perf_counter()
    enc = encode_file(src, tmp / f"rt-{size}", extra=25, force=True)
    t1 = time.perf_counter()
    frames = sorted((tmp / f"rt-{size}").glob("frame-*.png"))
    keep = random.Random(3).sample(frames, int(len(frames) * 0.85))
    res = decode_inputs(keep, tmp / f"rt-{size}.out", verify=False)
    t2 = time.perf_counter()
    ok = (tmp / f"rt-{size}.out").read_bytes() == src.read_bytes()
    return {"bytes": size, "codes": enc.frames, "used": len(keep), "encode_s": round(t1 - t0, 2),
            "decode_s": round(t2 - t1, 2), "identical": ok and res.exit_code == 0}


def _table(title: str, rows: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths)))
    for r in rows:
        print("  ".join(str(r[k]).rjust(w) for k, w in zip(keys, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few trials")
    args = parser.parse_args()
    import tempfile

    results: dict[str, object] = {"quick": args.quick}
    results["payload"] = payload_table([10, 20, 25, 40] if not args.quick else [20])
    results["frames"] = frames_table([10_000, 100_000, 1_000_000], 20, "M", 50) + frames_table(
        [10_000, 100_000, 1_000_000], 40, "L", 50)
    results["writers"] = [time_writers(30 if args.quick else 200)]
    with tempfile.TemporaryDirectory() as tmp:
        results["decode"] = [time_decode(Path(tmp), 20 if args.quick else 100)]
        sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
        results["round_trip"] = [round_trip(Path(tmp), s) for s in sizes]
    trials = (30, 10) if args.quick else (500, 100)
    results["raptorq"] = [
        raptorq_overhead(10_000, 616, trials[0], 0.3),
        raptorq_overhead(100_000, 616, trials[1], 0.3),
        raptorq_overhead(1_000_000, 616, max(3, trials[1] // 10), 0.3),
    ]
    for name in ("payload", "frames", "writers", "decode", "round_trip", "raptorq"):
        _table(name, results[name])  # type: ignore[arg-type]
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "qr_bench.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'qr_bench.json'}")


if __name__ == "__main__":
    main()
