"""Audio: MIDI (a Roll, a file, bytes or a ``symusic.Score``) to a waveform through FluidSynth, and WAV files.

How it works: the MIDI is read with symusic and put in seconds (so every tempo change is followed); each track gets
its own FluidSynth channel with its program (drums: the percussion bank 128, channels 10, 26, ... in MIDI's
1-based numbering); then every note-on, note-off, controller (the sustain pedal CC64 included) and pitch bend is
sent in time order, with the audio between two events rendered as one block of 32-bit float samples
(``fluid_synth_write_float``, so loud passages do not clip inside FluidSynth), followed by a release tail.

Why not ``pretty_midi.PrettyMIDI.fluidsynth()``: it renders each instrument in its own pass on channel 0 of one
shared synthesizer (so pedal, pitch-bend and controller state leak from one instrument into the next, and the
reverb is computed once per instrument), keeps the left channel only, and fetches 16-bit samples that clip at the
synthesizer's output before they are summed.

Requirements: the FluidSynth shared library (``apt-get install --no-install-recommends libfluidsynth3``, or
``brew install fluid-synth``) and its Python binding (``pip install pyfluidsynth``); without them
:class:`AudioUnavailableError` says so. The default soundfont is ``TimGM6mb.sf2``, the 6 MB General MIDI soundfont
shipped inside the pretty_midi package; any ``.sf2`` / ``.sf3`` file can be given instead.

Memory: a stereo float32 render takes 21 MB per minute at 44.1 kHz.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import importlib.util
import io
import json
import math
import os
import sys
import time
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from .errors import SymdiffError
from .files import atomic_path
from .progress import progress_bar

if TYPE_CHECKING:
    import symusic

    from .midi import MidiSource
    from .roll import Roll

#: what to run when FluidSynth is missing, one line per platform
INSTALL_HINT = (
    "Debian/Ubuntu: apt-get install --no-install-recommends libfluidsynth3; "
    "macOS: brew install fluid-synth; then: pip install pyfluidsynth (or pip install 'symdiff[audio]')"
)
#: the peak a normalised render reaches: -1 dBFS
PEAK = 10.0 ** (-1.0 / 20.0)
#: a normalised render whose peak is below this (-100 dBFS) is silence, and is returned as zeros
_SILENT = 1e-5
DEFAULT_SOUNDFONT_NAME = "TimGM6mb.sf2"
_PERCUSSION_BANK = 128
_MAX_BLOCK = 1 << 16  # samples rendered per FluidSynth call at most (keeps the progress bar moving)
# event kinds, in the order they are applied when several fall on the same sample
_NOTE_OFF, _CONTROL, _PITCH_BEND, _NOTE_ON = 0, 1, 2, 3
_EVENT_DTYPE = np.dtype(
    [("sample", "<i8"), ("kind", "u1"), ("channel", "<i4"), ("a", "<i4"), ("b", "<i4"), ("order", "<i8")]
)


class AudioUnavailableError(SymdiffError, RuntimeError):
    """FluidSynth (the shared library or its Python binding, pyfluidsynth) is not installed."""


class SoundfontError(SymdiffError, ValueError):
    """A soundfont file is missing or is not a SoundFont (``.sf2`` / ``.sf3``) FluidSynth can load."""


# ---------------------------------------------------------------------------------------------- FluidSynth
def _fluidsynth() -> Any:
    """The ``fluidsynth`` module (pyfluidsynth), or :class:`AudioUnavailableError` naming the install commands."""
    try:
        import fluidsynth
    except (ImportError, OSError) as err:  # ImportError: no binding or no library found; OSError: a broken library
        raise AudioUnavailableError(
            f"audio rendering needs FluidSynth, which is not available here ({err}). Install it: {INSTALL_HINT}"
        ) from None
    return fluidsynth


@functools.cache
def _write_float(fluidsynth: Any) -> Any:
    """``fluid_synth_write_float(synth, len, lout, loff, lincr, rout, roff, rincr)`` through pyfluidsynth's loader
    (pyfluidsynth itself only binds the 16-bit writer)."""
    write = fluidsynth.cfunc(
        "fluid_synth_write_float",
        ctypes.c_int,
        ("synth", ctypes.c_void_p, 1),
        ("len", ctypes.c_int, 1),
        ("lout", ctypes.c_void_p, 1),
        ("loff", ctypes.c_int, 1),
        ("lincr", ctypes.c_int, 1),
        ("rout", ctypes.c_void_p, 1),
        ("roff", ctypes.c_int, 1),
        ("rincr", ctypes.c_int, 1),
    )
    if write is None:
        raise AudioUnavailableError(f"this FluidSynth library has no fluid_synth_write_float. {INSTALL_HINT}")
    return write


def default_soundfont() -> Path:
    """``TimGM6mb.sf2``, the General MIDI soundfont inside the installed pretty_midi package (found without
    importing pretty_midi)."""
    spec = importlib.util.find_spec("pretty_midi")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / DEFAULT_SOUNDFONT_NAME
        if path.is_file():
            return path
    raise SoundfontError(
        f"the default soundfont {DEFAULT_SOUNDFONT_NAME} (shipped with pretty_midi) was not found; "
        "install pretty_midi or pass soundfont='path/to/file.sf2'"
    )


def check_soundfont(soundfont: str | os.PathLike[str] | None) -> Path:
    """The soundfont to load: ``soundfont``, checked to be a readable RIFF ``sfbk`` file (SoundFont 2 or 3), or the
    default one when ``None``.

    Raises:
        SoundfontError: the file is missing, unreadable or not a SoundFont.
    """
    if soundfont is None:
        return default_soundfont()
    path = Path(soundfont)
    if not path.exists():
        raise SoundfontError(f"soundfont {str(path)!r} does not exist (give the path of a .sf2 or .sf3 file)")
    if not path.is_file():
        raise SoundfontError(f"soundfont {str(path)!r} is not a file (give the path of a .sf2 or .sf3 file)")
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError as err:
        raise SoundfontError(f"soundfont {str(path)!r} cannot be read ({err.strerror or err})") from None
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise SoundfontError(
            f"soundfont {str(path)!r} is not a SoundFont file (expected a RIFF 'sfbk' header as in .sf2/.sf3 files, "
            f"found {head[:12]!r})"
        )
    return path


# ---------------------------------------------------------------------------------------------- MIDI -> events
def _score_in_seconds(source: Roll | MidiSource) -> tuple[symusic.Score, float]:
    """The source as a ``symusic.Score`` in seconds, and where its music ends (a Roll's trailing silence included)."""
    from . import midi as midi_io

    roll_module = sys.modules.get("symdiff.roll")  # not imported: source is no Roll (and torch need not load)
    if roll_module is not None and isinstance(source, roll_module.Roll):
        score = source.to_score()  # exactly what Roll.to_midi_bytes() serialises
        end = source.seconds
    else:
        score, _ = midi_io.parse(source)
        end = 0.0
    seconds = score.to("second")
    return seconds, max(end, float(seconds.end()) if seconds.note_num() or len(seconds.tracks) else 0.0)


def _channels(tracks: list[Any]) -> list[int]:
    """A FluidSynth channel per track: drum tracks on 9, 25, 41, ...; pitched tracks on the others, in order."""
    drum_channels = (c for c in range(9, 1 << 16, 16))
    pitched_channels = (c for c in range(1 << 16) if c % 16 != 9)
    return [next(drum_channels) if track.is_drum else next(pitched_channels) for track in tracks]


def _events(score: symusic.Score, channels: list[int], sample_rate: int) -> np.ndarray:
    """Every note-on, note-off, controller and pitch bend of the score as sorted ``_EVENT_DTYPE`` records."""
    parts: list[np.ndarray] = []

    def add(times: np.ndarray, kind: int, channel: int, a: np.ndarray, b: np.ndarray) -> None:
        out = np.zeros(len(times), dtype=_EVENT_DTYPE)
        out["sample"] = np.floor(np.asarray(times, dtype=np.float64) * sample_rate + 0.5)
        out["kind"], out["channel"], out["a"], out["b"] = kind, channel, a, b
        parts.append(out)

    for track, channel in zip(score.tracks, channels):
        notes = track.notes.numpy()
        sounding = notes["velocity"] > 0  # a zero velocity would be read as a note-off
        start = notes["time"][sounding].astype(np.float64)
        end = start + np.maximum(notes["duration"][sounding], 0)
        pitch, velocity = notes["pitch"][sounding].astype(np.int32), notes["velocity"][sounding].astype(np.int32)
        add(start, _NOTE_ON, channel, pitch, np.clip(velocity, 1, 127))
        add(end, _NOTE_OFF, channel, pitch, np.zeros_like(pitch))
        if len(track.controls):
            controls = track.controls.numpy()
            add(controls["time"], _CONTROL, channel, controls["number"], controls["value"])
        if len(track.pitch_bends):
            bends = track.pitch_bends.numpy()
            add(bends["time"], _PITCH_BEND, channel, bends["value"], np.zeros(len(bends["time"]), np.int32))
    events = np.concatenate(parts) if parts else np.zeros(0, dtype=_EVENT_DTYPE)
    events["order"] = np.arange(len(events))
    events["sample"] = np.maximum(events["sample"], 0)
    return events[np.lexsort((events["order"], events["kind"], events["sample"]))]


# ---------------------------------------------------------------------------------------------- rendering
def render(
    source: Roll | MidiSource,
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 44100,
    gain: float = 0.5,
    *,
    stereo: bool = True,
    tail: float = 1.0,
    normalize: bool = True,
    progress: bool = False,
) -> np.ndarray:
    """Render MIDI to audio with FluidSynth.

    Args:
        source: a :class:`~symdiff.Roll`, a MIDI file path, MIDI bytes, a ``symusic.Score`` or a
            ``pretty_midi.PrettyMIDI``. Programs, drum tracks (percussion bank 128), velocities, controllers (the
            sustain pedal CC64, volume, pan, ...), pitch bends and the tempo map are all followed.
        soundfont: a ``.sf2`` / ``.sf3`` file; default ``TimGM6mb.sf2`` from the pretty_midi package.
        sample_rate: samples per second (8000 to 192000).
        gain: FluidSynth's master gain (``synth.gain``); only the level before normalisation depends on it.
        stereo: return ``(samples, 2)`` (left, right); ``False``: ``(samples,)``, the mean of the two.
        tail: seconds rendered after the music ends, so the last notes and the reverb can die away.
        normalize: scale the audio to a peak of -1 dBFS (``symdiff.render.PEAK``); silence (a peak under
            -100 dBFS) is returned as zeros.
        progress: show a progress bar (in seconds of audio).

    Returns:
        float32 samples in ``[-1, 1]`` (when normalised): ``(samples, 2)`` stereo by default, or ``(samples,)``
        mono. The length is ``round((music seconds + tail) * sample_rate)``.

    Raises:
        AudioUnavailableError: FluidSynth or pyfluidsynth is not installed.
        SoundfontError: the soundfont is missing or invalid.
        symdiff.MidiError: the source is not a readable MIDI file.
    """
    if int(sample_rate) != sample_rate or not 8000 <= sample_rate <= 192_000:
        raise ValueError(f"render: sample_rate must be an integer from 8000 to 192000 Hz, got {sample_rate!r}")
    if not (math.isfinite(gain) and 0.0 < gain <= 10.0):
        raise ValueError(f"render: gain must be in (0, 10], got {gain!r}")
    if not (math.isfinite(tail) and 0.0 <= tail <= 60.0):
        raise ValueError(f"render: tail must be from 0 to 60 seconds, got {tail!r}")
    sample_rate = int(sample_rate)
    fluidsynth = _fluidsynth()
    write_float = _write_float(fluidsynth)
    sf_path = check_soundfont(soundfont)
    score, music_seconds = _score_in_seconds(source)
    channels = _channels(list(score.tracks))
    events = _events(score, channels, sample_rate)
    total = round((music_seconds + tail) * sample_rate)
    if len(events):
        total = max(total, int(events["sample"].max()) + 1)

    num_channels = 16 * max(1, -(-(max(channels, default=0) + 1) // 16))
    settings = {"synth.polyphony": 1024}  # a pedalled piano passage can hold hundreds of voices
    synth = fluidsynth.Synth(gain=float(gain), samplerate=float(sample_rate), channels=num_channels, **settings)
    try:
        sfid = synth.sfload(str(sf_path))
        if sfid < 0:
            raise SoundfontError(
                f"FluidSynth could not load the soundfont {str(sf_path)!r} (a damaged or unsupported file)"
            )
        for track, channel in zip(score.tracks, channels):
            _select_program(synth, channel, sfid, int(track.program), bool(track.is_drum))
        audio = _play(synth, write_float, events, total, sample_rate, progress)
    finally:
        synth.delete()

    if normalize:
        peak = float(np.abs(audio).max()) if audio.size else 0.0
        if peak > _SILENT:
            audio *= np.float32(PEAK / peak)
        else:  # FluidSynth's noise floor (about 1e-8) with nothing playing: silence
            audio[:] = 0.0
    return audio if stereo else audio.mean(axis=1, dtype=np.float32)


def _select_program(synth: Any, channel: int, sfid: int, program: int, is_drum: bool) -> None:
    """Give ``channel`` its preset: the drum kit ``program`` of bank 128 (or kit 0), else the GM ``program`` of bank 0
    (or program 0 when the soundfont lacks it)."""
    bank = _PERCUSSION_BANK if is_drum else 0
    if synth.program_select(channel, sfid, bank, program) != 0:
        synth.program_select(channel, sfid, bank, 0)


def _play(synth: Any, write_float: Any, events: np.ndarray, total: int, sample_rate: int, progress: bool) -> np.ndarray:
    """Send the events in order, rendering the samples between them, into a ``(total, 2)`` float32 array."""
    audio = np.zeros((total, 2), dtype=np.float32)
    base = audio.ctypes.data
    handle = synth.synth
    bar = progress_bar(math.ceil(total / sample_rate), progress, "rendering", "s")
    shown = 0
    position = 0
    held: dict[int, int] = {}  # (channel, key) -> notes sounding: a note-off waits for the last overlapping note

    def advance(until: int) -> None:
        nonlocal position, shown
        while position < until:
            count = min(until - position, _MAX_BLOCK)
            address = base + position * 8
            write_float(handle, count, address, 0, 2, address, 1, 2)
            position += count
            done = position // sample_rate
            if done > shown:
                bar.update(done - shown)
                shown = done

    try:
        for sample, kind, channel, a, b in zip(
            events["sample"].tolist(),
            events["kind"].tolist(),
            events["channel"].tolist(),
            events["a"].tolist(),
            events["b"].tolist(),
        ):
            advance(min(sample, total))
            key = (channel << 8) | a
            if kind == _NOTE_ON:
                held[key] = held.get(key, 0) + 1
                synth.noteon(channel, a, b)
            elif kind == _NOTE_OFF:
                left = held.get(key, 0) - 1
                held[key] = max(left, 0)
                if left <= 0:
                    synth.noteoff(channel, a)
            elif kind == _CONTROL:
                synth.cc(channel, a, b)
            else:
                synth.pitch_bend(channel, a)
        advance(total)
        bar.update(math.ceil(total / sample_rate) - shown)  # the last, partial second
    finally:
        bar.close()
    return audio


# ---------------------------------------------------------------------------------------------- WAV files
def save_audio(audio: np.ndarray, path: str | os.PathLike[str], sample_rate: int = 44100) -> Path:
    """Write audio as a 16-bit PCM WAV file, atomically, and return the path.

    Args:
        audio: ``(samples,)`` mono or ``(samples, channels)``; floats in ``[-1, 1]`` (clipped beyond) or int16.
        path: the ``.wav`` file to write.
        sample_rate: samples per second.
    """
    pcm = _pcm16(audio, sample_rate)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        _write_wav(handle, pcm, sample_rate)
    return Path(path)


def wav_bytes(audio: np.ndarray, sample_rate: int = 44100) -> bytes:
    """The bytes of the 16-bit WAV file :func:`save_audio` would write (for embedding in HTML)."""
    buffer = io.BytesIO()
    _write_wav(buffer, _pcm16(audio, sample_rate), sample_rate)
    return buffer.getvalue()


def _pcm16(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Checked ``(samples, channels)`` int16 samples of float (in ``[-1, 1]``, clipped) or int16 audio."""
    array = np.asarray(audio)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or not 1 <= array.shape[1] <= 8:
        raise ValueError(f"save_audio: audio must be (samples,) or (samples, channels<=8), got shape {array.shape}")
    if int(sample_rate) != sample_rate or not 1000 <= sample_rate <= 384_000:
        raise ValueError(f"save_audio: sample_rate must be an integer from 1000 to 384000 Hz, got {sample_rate!r}")
    if array.dtype == np.int16:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"save_audio: audio must be float (in [-1, 1]) or int16, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError("save_audio: audio holds NaN or infinite samples")
    return np.round(np.clip(array, -1.0, 1.0) * 32767.0).astype(np.int16)


def _write_wav(handle: BinaryIO, pcm: np.ndarray, sample_rate: int) -> None:
    with wave.open(handle, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(np.ascontiguousarray(pcm, dtype="<i2").tobytes())


def render_file(
    midi_in: str | os.PathLike[str],
    wav_out: str | os.PathLike[str],
    soundfont: str | os.PathLike[str] | None = None,
    sample_rate: int = 44100,
    progress: bool = False,
) -> Path:
    """Render a MIDI file (everything in it: programs, drums, pedal, tempo) to a 16-bit stereo WAV file."""
    audio = render(midi_in, soundfont=soundfont, sample_rate=sample_rate, progress=progress)
    return save_audio(audio, wav_out, sample_rate)


# ---------------------------------------------------------------------------------------------- command line
RENDER_EPILOG = """examples:
  symdiff render song.mid song.wav
  symdiff render generated.mid generated.wav --soundfont ~/soundfonts/FluidR3_GM.sf2 --sample-rate 48000

FluidSynth must be installed (Debian/Ubuntu: apt-get install --no-install-recommends libfluidsynth3;
macOS: brew install fluid-synth). The default soundfont is TimGM6mb.sf2 from the pretty_midi package.
"""


def cmd_render(args: argparse.Namespace) -> int:
    """``symdiff render IN.mid OUT.wav``: render a MIDI file to a WAV file and say what was written."""
    began = time.perf_counter()
    audio = render(args.input, soundfont=args.soundfont, sample_rate=args.sample_rate, progress=not args.quiet)
    save_audio(audio, args.output, args.sample_rate)
    took = time.perf_counter() - began
    seconds = len(audio) / args.sample_rate
    summary = {
        "input": str(args.input),
        "output": str(args.output),
        "seconds": round(seconds, 3),
        "sample_rate": args.sample_rate,
        "channels": 2,
        "soundfont": str(check_soundfont(args.soundfont)),
        "render_seconds": round(took, 3),
    }
    print(json.dumps(summary, indent=2))
    return 0


def add_render_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``symdiff render`` on the ``add_subparsers()`` object of the ``symdiff`` parser."""
    parser = subparsers.add_parser(
        "render",
        help="render a MIDI file to a WAV file with FluidSynth",
        description="Render a MIDI file (programs, drums, velocities, sustain pedal, tempo map) to 16-bit stereo WAV.",
        epilog=RENDER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, help="a MIDI file (any extension)")
    parser.add_argument("output", type=Path, help="the WAV file to write")
    parser.add_argument("--soundfont", type=Path, default=None, help="a .sf2/.sf3 file (default: TimGM6mb.sf2)")
    parser.add_argument("--sample-rate", type=int, default=44100, help="samples per second (default: 44100)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=cmd_render)
    return parser
