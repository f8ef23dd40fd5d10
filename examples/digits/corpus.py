"""Synthesize a spoken-digit corpus with espeak-ng and cache its features.

Each utterance is a random string of 3-7 digits, spoken by one of several
espeak-ng voices at a random speed (words per minute) and pitch. Audio is read
with the stdlib ``wave`` module, resampled to 16 kHz and turned into 80-dim
log-mel features (features.py); only the features are cached, as one
``<split>-<n>-<seed>.pt`` file per split under the data directory, so reruns
skip synthesis.
"""

import os
import random
import shutil
import subprocess
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional

import torch

from features import FEATURE_VERSION, SAMPLE_RATE, log_mel, resample

VOICES = [
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
    "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us+f3", "en-gb+f2", "en-us+m3", "en+klatt",
]
SPEEDS = (130, 200)  # words per minute, uniform
PITCHES = (25, 75)  # espeak-ng pitch 0-99, uniform
DEFAULT_DATA_DIR = Path(os.path.expanduser("~/.cache/rnnt_ops/digits"))


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def random_digits(rng: random.Random, min_len: int = 3, max_len: int = 7) -> str:
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(min_len, max_len)))


def read_wav(path: str) -> torch.Tensor:
    """Mono float waveform in [-1, 1] at 16 kHz from a 16-bit PCM WAV file."""
    with wave.open(path, "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{path}: expected 16-bit PCM, got {8 * width}-bit")
    samples = torch.frombuffer(bytearray(data), dtype=torch.int16).to(torch.float32) / 32768.0
    samples = samples.view(-1, channels).mean(dim=1)
    return resample(samples, rate, SAMPLE_RATE)


def synthesize(text: str, voice: str, speed: int, pitch: int, workdir: str, index: int) -> torch.Tensor:
    path = os.path.join(workdir, f"{index}.wav")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", path, " ".join(text)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        return read_wav(path)
    finally:
        os.remove(path)


def build_split(num_utts: int, seed: int, jobs: int = 2) -> Dict[str, list]:
    """Synthesize ``num_utts`` utterances; returns ``{"feats": [T x 80 float16],
    "texts": [str], "meta": [(voice, speed, pitch)]}``."""
    rng = random.Random(seed)
    specs = [
        (random_digits(rng), rng.choice(VOICES), rng.randint(*SPEEDS), rng.randint(*PITCHES))
        for _ in range(num_utts)
    ]
    with tempfile.TemporaryDirectory(prefix="digits-") as workdir:

        def one(i: int) -> torch.Tensor:
            text, voice, speed, pitch = specs[i]
            return log_mel(synthesize(text, voice, speed, pitch, workdir, i)).to(torch.float16)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            feats = list(pool.map(one, range(num_utts)))
    return {
        "feats": feats,
        "texts": [s[0] for s in specs],
        "meta": [s[1:] for s in specs],
    }


def load_split(data_dir: Optional[Path], split: str, num_utts: int, seed: int, log=print) -> Dict[str, list]:
    """Cached split: built (and saved) on first use. The train and test splits
    use different seeds, so their digit strings are drawn independently."""
    data_dir = Path(data_dir or DEFAULT_DATA_DIR)
    path = data_dir / f"{split}-{num_utts}-{seed}-v{FEATURE_VERSION}.pt"
    if path.exists():
        return torch.load(path)
    if not espeak_available():
        raise RuntimeError("espeak-ng not found: install it (apt-get install -y espeak-ng)")
    log(f"synthesizing {num_utts} {split} utterances with espeak-ng into {path} ...")
    data = build_split(num_utts, seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(data, tmp)
    os.replace(tmp, path)  # atomic: concurrent DDP ranks never read a partial file
    return data


def token_ids(text: str) -> List[int]:
    """Digit '0'..'9' -> token 1..10 (0 is blank)."""
    return [int(c) + 1 for c in text]


def ids_to_text(ids: List[int]) -> str:
    return "".join(str(i - 1) for i in ids)
