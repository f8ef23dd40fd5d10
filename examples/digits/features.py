"""80-dim log-mel features at 16 kHz: 25 ms Hann window, 10 ms hop, HTK mel
scale from 20 Hz to 8 kHz, log of the power plus 1e-6.

torchaudio is used when importable (resampling and the mel filterbank); the
fallbacks here compute the same thing with torch alone: torch.stft, a
triangular HTK mel filterbank, and a band-limited FFT resampler.
"""

import math

import torch

try:
    import torchaudio
except ImportError:  # not installed (e.g. this project's CPU venv)
    torchaudio = None

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
NUM_MELS = 80
F_MIN, F_MAX = 20.0, 8000.0
FEATURE_VERSION = 1  # bump when the features change, to invalidate caches


def resample(samples: torch.Tensor, orig_rate: int, new_rate: int) -> torch.Tensor:
    """Band-limited resampling of a 1-D signal."""
    if orig_rate == new_rate:
        return samples
    if torchaudio is not None:
        return torchaudio.functional.resample(samples, orig_rate, new_rate)
    # Treat the (zero-padded) signal as periodic: keep the spectrum below the
    # new Nyquist frequency, inverse FFT at the new length.
    n = samples.numel()
    # Padding keeps the wrap-around out of the signal, and makes the length a
    # multiple of orig_rate / gcd so that the rate ratio is exact.
    step = orig_rate // math.gcd(orig_rate, new_rate)
    n_in = -(-(n + n // 10 + 64) // step) * step
    x = torch.nn.functional.pad(samples, (0, n_in - n))
    n_out = n_in * new_rate // orig_rate
    spec = torch.fft.rfft(x)
    keep = min(spec.numel(), n_out // 2 + 1)
    out_spec = torch.zeros(n_out // 2 + 1, dtype=spec.dtype)
    out_spec[:keep] = spec[:keep]
    y = torch.fft.irfft(out_spec, n=n_out) * (n_out / n_in)
    return y[: int(round(n * new_rate / orig_rate))].contiguous()


def hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filterbank(num_mels: int = NUM_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   f_min: float = F_MIN, f_max: float = F_MAX) -> torch.Tensor:
    """[n_fft // 2 + 1][num_mels] triangular filters, equally spaced on the
    HTK mel scale (what torchaudio's melscale_fbanks gives with norm=None)."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    mels = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), num_mels + 2, dtype=torch.float64)
    hz = 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    lower, center, upper = hz[:-2], hz[1:-1], hz[2:]
    f = freqs[:, None]
    rising = (f - lower) / (center - lower)
    falling = (upper - f) / (upper - center)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(torch.float32)


_FBANK = None


def log_mel(samples: torch.Tensor) -> torch.Tensor:
    """[num_samples] at 16 kHz -> [num_frames][80] log-mel features."""
    global _FBANK
    if _FBANK is None:
        if torchaudio is not None:
            _FBANK = torchaudio.functional.melscale_fbanks(
                N_FFT // 2 + 1, F_MIN, F_MAX, NUM_MELS, SAMPLE_RATE, norm=None, mel_scale="htk")
        else:
            _FBANK = mel_filterbank()
    spec = torch.stft(samples, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    power = spec.abs().pow(2).T  # [frames][bins]
    return torch.log(power @ _FBANK + 1e-6)
