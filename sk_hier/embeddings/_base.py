"""Shared machinery of the audio embedders.

Loading and validating audio, frame -> clip pooling, batching across clips, lookups
in the on-disk cache (:mod:`._cache`), ``n_jobs`` and ``on_error`` handling, and the
progress bar. A concrete embedder says only how a batch of mono waveforms at its own
sample rate becomes a batch of vectors.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._cache import EmbeddingCache, content_key, warn_cache_problems

__all__ = [
    "POOLINGS",
    "AudioEmbedder",
    "BadAudioError",
    "SkippedAudioWarning",
    "load_audio",
    "pool_frames",
]

POOLINGS = ("mean", "max", "std", "min")

# What a file starts with, by container: tells a damaged audio file from a file that
# is no audio at all, so the error can say which.
_AUDIO_MAGIC = {
    b"RIFF": "WAV",
    b"RIFX": "WAV",
    b"RF64": "WAV",
    b"fLaC": "FLAC",
    b"OggS": "Ogg",
    b"FORM": "AIFF",
    b"ID3": "MP3",
    b".snd": "AU",
    b"wvpk": "WavPack",
    b"caff": "CAF",
}


class BadAudioError(ValueError):
    """An input that cannot be embedded: missing, empty, silent, corrupt or not audio.

    Attributes
    ----------
    source : str
        The file path, or ``"input i (waveform)"`` for an in-memory waveform.
    reason : str
        What is wrong with it, in words.

    Examples
    --------
    >>> from sk_hier.embeddings import BadAudioError, load_audio
    >>> try:
    ...     load_audio("no/such/file.wav")
    ... except BadAudioError as exc:
    ...     print(exc.reason)
    file not found
    """

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self):
        # Keeps the two-argument constructor working when the error crosses processes.
        return (type(self), (self.source, self.reason))


class SkippedAudioWarning(UserWarning):
    """Issued when ``on_error="skip"`` left some inputs out of the output.

    Examples
    --------
    >>> import warnings, numpy as np
    >>> from sk_hier.embeddings import LogMelEmbedder, SkippedAudioWarning
    >>> emb = LogMelEmbedder(sample_rate=22050, on_error="skip")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", SkippedAudioWarning)
    ...     X = emb.transform([np.zeros(22050), 0.1 * np.ones(22050)])
    >>> X.shape, emb.kept_indices_, emb.skipped_[0][1][:6]
    ((1, 296), array([1]), 'silent')
    """


# -- audio loading --------------------------------------------------------------------
def _describe_unreadable(head: bytes) -> str:
    for magic, kind in _AUDIO_MAGIC.items():
        if head.startswith(magic):
            return f"corrupt or truncated {kind} file (its header is there but cannot be decoded)"
    if head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "corrupt or truncated MP3 file"
    return (
        "not an audio file (unrecognised format); give WAV, FLAC, Ogg, AIFF or MP3 files "
        "that soundfile can read"
    )


def _decode(path: str, source: str) -> tuple[np.ndarray, int]:
    # From the path (not a BytesIO); 16-bit WAV as int16 scaled here: same floats, 7x cheaper.
    import soundfile as sf

    try:
        with sf.SoundFile(path) as f:
            sr = int(f.samplerate)
            pcm16 = f.format == "WAV" and f.subtype == "PCM_16"
            audio = f.read(dtype="int16" if pcm16 else "float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        head = _read_bytes(path)[:12]  # missing or unreadable: its own precise error
        if not head:
            raise BadAudioError(source, "empty file (0 bytes)") from None
        raise BadAudioError(source, f"{_describe_unreadable(head)} [{exc}]") from None
    return (audio * np.float32(2.0**-15) if pcm16 else audio), sr


def _validate(audio: np.ndarray, sr: int, source: str, silence_threshold: float) -> np.ndarray:
    """Mono float32 samples, or an error saying why the clip is unusable."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        # (samples, channels): mix down, as librosa.load(mono=True) does.
        audio = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
    if audio.ndim != 1:
        raise BadAudioError(source, f"expected a 1-D waveform, got shape {audio.shape}")
    if audio.size == 0:
        raise BadAudioError(source, "no audio samples (zero duration)")
    peak = max(float(audio.max()), -float(audio.min()))  # NaN and infinity propagate
    if not np.isfinite(peak):
        raise BadAudioError(source, "holds NaN or infinite samples")
    if peak <= silence_threshold:
        level = "all zeros" if peak == 0 else f"peak amplitude {peak:.2g}"
        raise BadAudioError(
            source,
            f"silent ({level}, at or below silence_threshold={silence_threshold:g}); "
            "check the file, or lower silence_threshold if it is meant to be this quiet",
        )
    if sr <= 0:
        raise BadAudioError(source, f"invalid sample rate {sr}")
    return np.ascontiguousarray(audio)


def _resample(audio: np.ndarray, sr: int, target_sr: int | None) -> np.ndarray:
    if target_sr is None or sr == target_sr:
        return audio
    import librosa

    # soxr_hq is librosa.load's default, which the pretrained models were fed.
    out = librosa.resample(audio, orig_sr=sr, target_sr=target_sr, res_type="soxr_hq")
    return out.astype(np.float32, copy=False)


def load_audio(
    path: str | os.PathLike,
    sr: int | None = None,
    silence_threshold: float = 1e-4,
) -> tuple[np.ndarray, int]:
    """Read an audio file as mono float32, validated, optionally resampled.

    Parameters
    ----------
    path : str or path-like
        An audio file soundfile can read (WAV, FLAC, Ogg, AIFF, MP3, ...).
    sr : int or None, default=None
        Resample to this rate (``None`` keeps the file's rate).
    silence_threshold : float, default=1e-4
        A clip whose peak absolute amplitude is at or below this is "silent".

    Returns
    -------
    audio : ndarray of shape (n_samples,), float32
    sr : int

    Raises
    ------
    BadAudioError
        A ``ValueError`` naming the file, for a missing, empty, corrupt, non-audio or
        silent file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, soundfile as sf
    >>> from sk_hier.embeddings import load_audio
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> sf.write(path, 0.5 * np.sin(np.arange(22050) / 10), 22050)
    >>> audio, sr = load_audio(path, sr=16000)
    >>> audio.shape, audio.dtype, sr
    ((16000,), dtype('float32'), 16000)
    """
    source = os.fspath(path)
    audio, file_sr = _decode(source, source)
    audio = _validate(audio, file_sr, source, silence_threshold)
    return _resample(audio, file_sr, sr), int(sr or file_sr)


def _read_bytes(source: str) -> bytes:
    try:
        with open(source, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise BadAudioError(source, "file not found") from None
    except IsADirectoryError:
        raise BadAudioError(source, "is a folder, not an audio file") from None
    except OSError as exc:
        raise BadAudioError(source, f"cannot be read ({exc.strerror or exc})") from None


# -- pooling ---------------------------------------------------------------------------
def pool_frames(frames: np.ndarray, pooling: Sequence[str] = ("mean", "max")) -> np.ndarray:
    """Frame embeddings ``(n_frames, d)`` -> one clip vector ``(len(pooling) * d,)``.

    The statistics are concatenated in the order given.

    Examples
    --------
    >>> import numpy as np
    >>> from sk_hier.embeddings import pool_frames
    >>> pool_frames(np.array([[0.0, 1.0], [2.0, 5.0]]), ("mean", "max"))
    array([1., 3., 2., 5.], dtype=float32)
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"pool_frames needs (n_frames >= 1, d) frames, got {frames.shape}")
    stats = {
        "mean": lambda a: a.mean(axis=0),
        "max": lambda a: a.max(axis=0),
        "min": lambda a: a.min(axis=0),
        "std": lambda a: a.std(axis=0),
    }
    return np.concatenate([stats[p](frames) for p in pooling]).astype(np.float32, copy=False)


def _check_pooling(pooling: Any) -> tuple[str, ...]:
    if isinstance(pooling, str):
        pooling = (pooling,)
    pooling = tuple(pooling)
    bad = [p for p in pooling if p not in POOLINGS]
    if not pooling or bad or len(set(pooling)) != len(pooling):
        raise ValueError(
            f"pooling must be a non-empty tuple of distinct names from {POOLINGS}, "
            f"got {pooling!r}."
        )
    return pooling


# -- inputs ------------------------------------------------------------------------------
@dataclass
class _Item:
    index: int
    source: str
    path: str | None = None
    waveform: np.ndarray | None = None


def _as_items(X: Any) -> list[_Item]:
    if isinstance(X, str | os.PathLike):
        raise ValueError(
            "X must be a sequence of audio file paths (or of waveforms), not a single "
            f"path: wrap it in a list, e.g. [{os.fspath(X)!r}]."
        )
    if isinstance(X, np.ndarray) and X.dtype.kind in "fiu":
        if X.ndim == 1:
            raise ValueError(
                "X is a single 1-D waveform; pass a list of waveforms, e.g. [y], "
                "or a 2-D array with one waveform per row."
            )
        if X.ndim != 2:
            raise ValueError(f"A waveform array must be 2-D (n_clips, n_samples), got {X.shape}.")
    items = []
    for i, x in enumerate(X):
        if isinstance(x, str | os.PathLike):
            items.append(_Item(i, os.fspath(x), path=os.fspath(x)))
        elif isinstance(x, np.ndarray | list | tuple):
            arr = np.asarray(x)
            if arr.dtype.kind not in "fiu":
                raise ValueError(
                    f"Input {i} is neither a file path nor a numeric waveform (dtype {arr.dtype})."
                )
            if arr.dtype.kind in "iu":
                # Integer PCM, as soundfile scales it: full scale -> 1.0.
                info = np.iinfo(arr.dtype)
                arr = (arr.astype(np.float64) - (info.max + info.min + 1) / 2) / (
                    (info.max - info.min + 1) / 2
                )
            items.append(_Item(i, f"input {i} (waveform)", waveform=arr.astype(np.float32)))
        else:
            raise ValueError(
                f"Input {i} is a {type(x).__name__}; give file paths (str or Path) or "
                "1-D numeric waveforms."
            )
    return items


# -- the estimator -----------------------------------------------------------------------
class AudioEmbedder(TransformerMixin, BaseEstimator):
    """Base of the audio embedders: audio files or waveforms -> ``(n, d)`` float32.

    Subclasses set ``name`` and ``target_sr`` and implement ``_embed_batch``,
    ``_frame_feature_names`` and ``_settings``; everything else (loading,
    validation, cache, batching over clips, ``n_jobs``, ``on_error``, progress) lives
    here. Subclasses take the parameters ``pooling``, ``batch_size``,
    ``sample_rate``, ``n_jobs``, ``cache_dir``, ``on_error``, ``progress`` and
    ``silence_threshold`` (see :class:`LogMelEmbedder`).

    Attributes
    ----------
    n_features_out_ : int
        Set by ``fit``: the embedding size.
    kept_indices_ : ndarray of int
        Set by ``transform``: positions in ``X`` of the rows it returned.
    skipped_ : list of (str, str)
        Set by ``transform``: ``(source, reason)`` of the inputs it left out
        (``on_error="skip"``); empty otherwise.

    Examples
    --------
    A new embedder only says how waveforms become vectors:

    >>> import numpy as np
    >>> from sk_hier.embeddings import AudioEmbedder
    >>> class RMS(AudioEmbedder):
    ...     name, target_sr = "rms", 8000
    ...     def __init__(self, pooling=("mean",), batch_size=None, sample_rate=None,
    ...                  n_jobs=None, cache_dir=None, on_error="raise", progress=False,
    ...                  silence_threshold=1e-4):
    ...         self.pooling, self.batch_size, self.sample_rate = pooling, batch_size, sample_rate
    ...         self.n_jobs, self.cache_dir, self.on_error = n_jobs, cache_dir, on_error
    ...         self.progress, self.silence_threshold = progress, silence_threshold
    ...     def _frame_feature_names(self):
    ...         return ["rms"]
    ...     def _settings(self):
    ...         return {"pooling": list(self.pooling)}
    ...     def _embed_batch(self, waveforms, sr):
    ...         return [np.sqrt(np.mean(y**2, keepdims=True)) for y in waveforms]
    >>> RMS(sample_rate=8000).fit_transform([np.ones(800), 0.5 * np.ones(800)]).ravel()
    array([1. , 0.5], dtype=float32)
    """

    name = "audio"
    target_sr: int | None = None
    # Bump in a subclass when its numbers change, so that old cache entries miss.
    _cache_version = 1
    # How many clips a worker takes at a time when the subclass gives no batch size.
    _default_clips_per_task = 16

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    # -- hooks ---------------------------------------------------------------------
    def _embed_batch(self, waveforms: list[np.ndarray], sr: int) -> list[np.ndarray]:
        raise NotImplementedError

    def _frame_feature_names(self) -> list[str]:
        raise NotImplementedError

    def _settings(self) -> dict:
        """Parameters that change the numbers (the cache key and the file record)."""
        raise NotImplementedError

    def _check_params(self) -> None:
        """Validate the subclass's own parameters; raise ValueError."""

    def _pooling(self) -> tuple[str, ...]:
        return _check_pooling(self.pooling)

    # -- sklearn API -----------------------------------------------------------------
    def _check_common(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}.")
        if not (isinstance(self.silence_threshold, int | float) and self.silence_threshold >= 0):
            raise ValueError(
                f"silence_threshold must be a float >= 0, got {self.silence_threshold!r}."
            )
        if self.batch_size is not None and not (
            isinstance(self.batch_size, int | np.integer) and self.batch_size >= 1
        ):
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}.")
        if self.sample_rate is not None and not (
            isinstance(self.sample_rate, int | np.integer) and self.sample_rate > 0
        ):
            raise ValueError(f"sample_rate must be a positive int, got {self.sample_rate!r}.")
        self._pooling()
        self._check_params()

    def fit(self, X: Any = None, y: Any = None) -> AudioEmbedder:
        """Check the parameters; nothing is learned.

        Parameters
        ----------
        X, y : ignored
            Accepted for Pipeline compatibility.

        Returns
        -------
        self
            With ``n_features_out_`` (the embedding size) set.
        """
        self._check_common()
        self.n_features_out_ = len(self.get_feature_names_out())
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns, ``"<frame feature>_<statistic>"``."""
        frame = self._frame_feature_names()
        return np.asarray([f"{f}_{p}" for p in self._pooling() for f in frame], dtype=object)

    def describe(self) -> dict:
        """Name, class and output-relevant settings, as stored in embedding files.

        Examples
        --------
        >>> from sk_hier.embeddings import LogMelEmbedder
        >>> info = LogMelEmbedder(n_mels=64).describe()
        >>> info["name"], info["settings"]["n_mels"], info["n_features"]
        ('logmel', 64, 168)
        """
        return {
            "name": self.name,
            "class": type(self).__name__,
            "settings": self._settings(),
            "n_features": len(self.get_feature_names_out()),
        }

    def transform(self, X: Any) -> np.ndarray:
        """Embed audio.

        Parameters
        ----------
        X : sequence of paths, or of 1-D waveforms, or 2-D array (n_clips, n_samples)
            Audio files, or waveforms at ``sample_rate`` Hz.

        Returns
        -------
        ndarray of shape (n_kept, n_features_out), float32
            One row per input, in input order. With ``on_error="skip"``, bad inputs are
            left out: ``kept_indices_`` says which inputs the rows are and
            ``skipped_`` lists what was left out and why.
        """
        self._check_common()
        items = _as_items(X)
        n_features = len(self.get_feature_names_out())
        if any(it.waveform is not None for it in items) and self.sample_rate is None:
            raise ValueError(
                f"{type(self).__name__} got waveforms: set sample_rate= to their rate "
                "in Hz (e.g. sample_rate=22050)."
            )
        if self.on_error == "raise":
            # Cheap up-front check, so a missing file fails before hours of work.
            for it in items:
                if it.path is not None and not os.path.isfile(it.path):
                    _read_bytes(it.path)  # raises the precise error
                    raise BadAudioError(it.source, "not a regular file")
        cache = self._cache()
        if cache is not None:
            cache.prepare()  # an unwritable cache_dir fails here, before the work
        rows: dict[int, np.ndarray] = {}
        skipped: list[tuple[str, str]] = []
        cache_problems: list[str] = []
        for result, problems in self._run(items, cache):
            cache_problems += problems
            for index, value in result:
                if isinstance(value, BadAudioError):
                    if self.on_error == "raise":
                        raise value
                    skipped.append((value.source, value.reason))
                else:
                    rows[index] = value
        warn_cache_problems(cache_problems)
        kept = np.array(sorted(rows), dtype=np.intp)
        self.kept_indices_ = kept
        self.skipped_ = skipped
        if skipped:
            listing = "; ".join(f"{s}: {r}" for s, r in skipped)
            warnings.warn(
                f"{len(skipped)} of {len(items)} inputs could not be embedded and were "
                f"left out (see skipped_ and kept_indices_): {listing}",
                SkippedAudioWarning,
                stacklevel=2,
            )
        if not len(kept):
            return np.zeros((0, n_features), dtype=np.float32)
        return np.stack([rows[i] for i in kept]).astype(np.float32, copy=False)

    # -- machinery ----------------------------------------------------------------------
    def _clips_per_task(self) -> int:
        return int(self.batch_size or self._default_clips_per_task)

    def _run(self, items: list[_Item], cache: EmbeddingCache | None):
        from joblib import Parallel, delayed
        from tqdm.auto import tqdm

        per = self._clips_per_task()
        chunks = [items[i : i + per] for i in range(0, len(items), per)]
        bar = tqdm(
            total=len(items),
            desc=f"embed ({self.name})",
            unit="clip",
            disable=not self.progress,
            leave=False,
        )
        try:
            parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
            tasks = (delayed(_process_chunk)(self, chunk, cache) for chunk in chunks)
            for result, problems in parallel(tasks):
                bar.update(len(result))
                yield result, problems
        finally:
            bar.close()

    def _cache(self) -> EmbeddingCache | None:
        """The cache of these settings in ``cache_dir``, or None without one."""
        if self.cache_dir is None:
            return None
        n_features = len(self.get_feature_names_out())
        return EmbeddingCache(self.cache_dir, self._settings_key(), n_features)

    def _settings_key(self) -> str:
        record = {
            "class": type(self).__name__,
            "cache_version": self._cache_version,
            "settings": self._settings(),
        }
        return json.dumps(record, sort_keys=True, default=str)


def _load_item(
    it: _Item, embedder: AudioEmbedder, cache: EmbeddingCache | None, problems: list[str]
) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
    """``(content key, cached vector or None, audio at target_sr or None)`` of one input.

    Raises BadAudioError for an input that cannot be embedded.
    """
    key = None  # the content key is needed (and hashed) only with a cache
    if it.path is not None:
        if cache is not None:
            key = content_key(_read_bytes(it.path))
    else:
        sr = int(embedder.sample_rate)
        audio = np.asarray(it.waveform, dtype=np.float32)
        key = None if cache is None else content_key(audio, sr)
    if cache is not None:
        vector, problem = cache.load(key)
        if vector is not None:
            return key, vector, None
        if problem is not None:
            problems.append(problem)
    if it.path is not None:
        audio, sr = _decode(it.path, it.source)
    audio = _validate(audio, sr, it.source, embedder.silence_threshold)
    return key, None, _resample(audio, sr, embedder.target_sr)


def _process_chunk(
    embedder: AudioEmbedder, chunk: list[_Item], cache: EmbeddingCache | None
) -> tuple[list[tuple[int, Any]], list[str]]:
    """Load, validate, look up, embed and store one chunk of clips (runs in a worker).

    Returns ``(index, vector or BadAudioError)`` per clip and the cache problems met;
    warnings are left to the main process, where the caller can see them.
    """
    out: dict[int, Any] = {}
    problems: list[str] = []
    todo: list[tuple[_Item, str, np.ndarray]] = []
    load = _load_item
    if getattr(embedder, "_reference", False):  # loads as the reference paths did
        from ._loading_reference import load_item as load
    for it in chunk:
        try:
            key, vector, audio = load(it, embedder, cache, problems)
        except BadAudioError as exc:
            out[it.index] = exc
            continue
        if vector is not None:
            out[it.index] = vector
        else:
            todo.append((it, key, audio))
    if todo:
        sr = embedder.target_sr
        if sr is None:
            raise RuntimeError("an embedder must set target_sr")
        vectors = embedder._embed_batch([audio for _, _, audio in todo], sr)
        for (it, key, _), vec in zip(todo, vectors):
            out[it.index] = np.asarray(vec, dtype=np.float32)
            # Only successful results reach the cache: a bad file leaves no entry.
            problem = None if cache is None else cache.store(key, out[it.index])
            if problem is not None:
                problems.append(problem)
    return [(it.index, out[it.index]) for it in chunk], problems
