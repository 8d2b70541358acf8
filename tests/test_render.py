"""Audio through FluidSynth: real pieces and hand-built scores whose sound can be predicted (a held pedal rings
on, a louder velocity is louder, a hi-hat on the drum channel is noise, not a piano note). Skipped when the
FluidSynth library is not installed (``make test`` installs it; see scripts/system-deps.sh)."""

from __future__ import annotations

import argparse
import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import symusic

from symdiff import Roll, SymdiffError
from symdiff.render import (
    PEAK,
    AudioUnavailableError,
    SoundfontError,
    add_render_command,
    check_soundfont,
    default_soundfont,
    render,
    render_file,
    save_audio,
    wav_bytes,
)

SR = 22050  # a lower rate keeps the tests fast; FluidSynth behaves the same
TPQ = 480  # at 120 qpm a quarter note is 0.5 s


@pytest.fixture(scope="module")
def fluid() -> None:
    from symdiff.render import _fluidsynth

    try:
        _fluidsynth()
    except AudioUnavailableError as err:
        pytest.skip(f"FluidSynth is not installed: {err}")


@pytest.fixture(scope="module")
def chorale() -> Roll:
    """Bach's chorale BWV 66.6 from the music21 corpus (four voices, 9 bars, 22.5 s)."""
    import music21

    score = music21.corpus.parse("bach/bwv66.6")
    data = music21.midi.translate.streamToMidiFile(score).writestr()
    return Roll.from_midi(data, layout="voices", steps_per_beat=4)


def score(
    *tracks: tuple[str, int, bool, list[tuple[int, int, int, int]]],
    tempos: tuple[tuple[int, float], ...] = ((0, 120.0),),
    controls: tuple[tuple[int, int, int], ...] = (),
) -> symusic.Score:
    """A symusic Score: tracks as (name, program, is_drum, [(tick, duration, pitch, velocity)]); ``controls``
    (tick, number, value) go on every track."""
    s = symusic.Score(TPQ)
    for tick, qpm in tempos:
        s.tempos.append(symusic.Tempo(tick, qpm=qpm))
    for name, program, is_drum, notes in tracks:
        track = symusic.Track(name=name, program=program, is_drum=is_drum)
        for n in notes:
            track.notes.append(symusic.Note(*n))
        for c in controls:
            track.controls.append(symusic.ControlChange(*c))
        s.tracks.append(track)
    return s


def rms(audio: np.ndarray, start: float = 0.0, stop: float | None = None) -> float:
    """Root mean square of the samples between two times (seconds)."""
    window = audio[int(start * SR) : None if stop is None else int(stop * SR)]
    return float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))


def high_frequency_share(audio: np.ndarray, above: float = 4000.0) -> float:
    """The share of the signal's energy above ``above`` Hz."""
    power = np.abs(np.fft.rfft(audio)) ** 2
    return float(power[np.fft.rfftfreq(len(audio), 1 / SR) > above].sum() / power.sum())


# ---------------------------------------------------------------------------------------------- real music
def test_a_chorale_renders_to_its_length_plus_the_tail_at_minus_one_dbfs(fluid: None, chorale: Roll) -> None:
    audio = render(chorale, sample_rate=SR)
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert abs(len(audio) - (chorale.seconds + 1.0) * SR) <= 2  # 22.5 s of music and a 1 s release tail
    assert np.abs(audio).max() == pytest.approx(PEAK, abs=1e-4)
    # the four voices sing throughout: every second of the music is sounding
    loudness = [rms(audio, t, t + 1.0) for t in range(int(chorale.seconds))]
    assert min(loudness) > 0.02, loudness
    assert rms(audio, chorale.seconds + 0.8) < 0.2 * np.median(loudness)  # the tail dies away
    assert not np.allclose(audio[:, 0], audio[:, 1])  # really stereo (reverb and chorus)


def test_mono_is_the_mean_of_the_channels_and_roll_render_delegates(fluid: None, chorale: Roll) -> None:
    excerpt = chorale.bars(0, 2)
    stereo = render(excerpt, sample_rate=SR, normalize=False)
    mono = excerpt.render(sample_rate=SR, stereo=False, normalize=False)
    assert mono.shape == (len(stereo),)
    np.testing.assert_allclose(mono, stereo.mean(axis=1), atol=1e-6)


def test_a_real_drum_groove_is_audible(fluid: None, shared_midi: Path) -> None:
    roll = Roll.from_midi(shared_midi / "other" / "1_funk-groove1_138_beat_4-4.mid", layout="lpd5").bars(0, 2)
    assert [roll.layout.tracks[i].name for i in roll.nonempty_tracks()] == ["Drums"]
    audio = render(roll, sample_rate=SR, stereo=False)
    assert rms(audio, 0.0, roll.seconds) > 0.05
    assert high_frequency_share(audio) > 0.05  # cymbals and snare (a piano: under 0.001)


# ---------------------------------------------------------------------------------------------- what is honoured
def test_drum_tracks_play_the_percussion_bank(fluid: None) -> None:
    hats = [(i * 240, 120, 42, 100) for i in range(8)]  # closed hi-hat (GM drum key 42) in eighth notes
    drums = render(score(("Drums", 0, True, hats)), sample_rate=SR, stereo=False)
    piano = render(score(("Piano", 0, False, hats)), sample_rate=SR, stereo=False)  # the same keys as F#2
    assert rms(drums, 0.0, 2.0) > 0.02
    assert high_frequency_share(drums) > 0.4
    assert high_frequency_share(piano) < 0.05


def test_the_sustain_pedal_keeps_a_released_note_sounding(fluid: None) -> None:
    note = [(0, 240, 60, 100)]  # released after 0.25 s
    held = score(("Piano", 0, False, note), controls=((0, 64, 127), (2400, 64, 0)))  # pedal up at 2.5 s
    free = score(("Piano", 0, False, note), controls=((0, 64, 0), (2400, 64, 0)))
    with_pedal = render(held, sample_rate=SR, stereo=False, normalize=False)
    without = render(free, sample_rate=SR, stereo=False, normalize=False)
    assert len(with_pedal) == len(without) == round(3.5 * SR)
    assert rms(with_pedal, 0.0, 0.2) == pytest.approx(rms(without, 0.0, 0.2), rel=0.05)  # same attack
    assert rms(with_pedal, 0.8, 2.0) > 10 * rms(without, 0.8, 2.0)
    assert rms(with_pedal, 3.2) < 0.2 * rms(with_pedal, 0.8, 2.0)  # and it stops when the pedal is lifted


def test_velocity_sets_loudness(fluid: None) -> None:
    soft = render(score(("Piano", 0, False, [(0, 480, 60, 40)])), sample_rate=SR, stereo=False, normalize=False)
    loud = render(score(("Piano", 0, False, [(0, 480, 60, 110)])), sample_rate=SR, stereo=False, normalize=False)
    assert rms(loud) > 2 * rms(soft) > 0


def test_programs_choose_the_instrument(fluid: None) -> None:
    notes = [(0, 960, 60, 100)]
    piano = render(score(("a", 0, False, notes)), sample_rate=SR, stereo=False)
    organ = render(score(("b", 19, False, notes)), sample_rate=SR, stereo=False)  # church organ: sustains
    assert rms(organ, 0.7, 0.95) > 2 * rms(piano, 0.7, 0.95)


def test_tempo_changes_are_followed(fluid: None) -> None:
    notes = [(0, 480, 60, 90), (480, 480, 62, 90), (960, 480, 64, 90)]
    audio = render(score(("p", 0, False, notes), tempos=((0, 120.0), (960, 60.0))), sample_rate=SR, stereo=False)
    # 2 quarters at 120 qpm (1 s) + 1 quarter at 60 qpm (1 s) + 1 s tail; at 120 qpm throughout it would be 2.5 s
    assert len(audio) == 3 * SR
    assert rms(audio, 1.0, 1.2) > 0.05  # the third note starts at 1 s, not 0.75 s: it is sounding here
    assert rms(audio, 0.95, 1.0) < rms(audio, 1.05, 1.1)


def test_a_repeated_note_inside_a_longer_one_does_not_cut_it_short(fluid: None) -> None:
    long_and_short = [(0, 1920, 60, 90), (960, 480, 60, 90)]  # 0-2 s, and again 1-1.5 s
    short_only = [(960, 480, 60, 90)]
    both = render(score(("p", 0, False, long_and_short)), sample_rate=SR, stereo=False, normalize=False)
    alone = render(score(("p", 0, False, short_only)), sample_rate=SR, stereo=False, normalize=False)
    assert rms(both, 1.6, 1.95) > 3 * rms(alone, 1.6, 1.95)  # still held after the inner note's end at 1.5 s


def test_silence_stays_silent(fluid: None) -> None:
    empty = score(("p", 0, False, []))
    empty.tracks[0].controls.append(symusic.ControlChange(TPQ * 2, 7, 100))  # 1 s of nothing
    audio = render(empty, sample_rate=SR)
    assert len(audio) == 2 * SR and not audio.any()


# ---------------------------------------------------------------------------------------------- errors
def test_the_default_soundfont_is_pretty_midis() -> None:
    path = default_soundfont()
    assert path.name == "TimGM6mb.sf2" and path.parent.name == "pretty_midi"
    assert check_soundfont(None) == path


def test_bad_soundfonts_give_clear_errors(fluid: None, chorale: Roll, tmp_path: Path) -> None:
    missing = tmp_path / "nope.sf2"
    with pytest.raises(SoundfontError, match=r"nope\.sf2.*does not exist.*\.sf2 or \.sf3"):
        render(chorale, soundfont=missing)
    text = tmp_path / "notes.sf2"
    text.write_text("not a soundfont")
    with pytest.raises(SoundfontError, match="is not a SoundFont file"):
        render(chorale, soundfont=text)
    broken = tmp_path / "broken.sf2"  # a SoundFont header and nothing FluidSynth can use
    broken.write_bytes(b"RIFF" + (100).to_bytes(4, "little") + b"sfbk" + b"\0" * 100)
    with pytest.raises(SoundfontError, match="could not load"):
        render(chorale, soundfont=broken)
    with pytest.raises(SoundfontError, match="not a file"):
        render(chorale, soundfont=tmp_path)
    assert issubclass(SoundfontError, SymdiffError) and issubclass(SoundfontError, ValueError)


def test_bad_arguments_are_refused(fluid: None, chorale: Roll) -> None:
    with pytest.raises(ValueError, match="sample_rate must be an integer from 8000"):
        render(chorale, sample_rate=100)
    with pytest.raises(ValueError, match="gain must be in"):
        render(chorale, gain=-1.0)
    with pytest.raises(ValueError, match="tail must be"):
        render(chorale, tail=float("nan"))


def test_without_the_fluidsynth_binding_the_error_says_what_to_install(
    chorale: Roll, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # what `import fluidsynth` meets when it is missing
    with pytest.raises(AudioUnavailableError) as caught:
        render(chorale)
    message = str(caught.value)
    for command in ("apt-get install --no-install-recommends libfluidsynth3", "brew install fluid-synth"):
        assert command in message
    assert "pip install pyfluidsynth" in message
    assert isinstance(caught.value, SymdiffError)


# ---------------------------------------------------------------------------------------------- WAV files
def test_wav_files_hold_exactly_the_samples(tmp_path: Path) -> None:
    t = np.arange(SR // 10) / SR
    stereo = np.stack((0.5 * np.sin(2 * np.pi * 440 * t), -0.25 * np.ones_like(t)), axis=1).astype(np.float32)
    stereo[0] = (1.5, -2.0)  # clipped to full scale
    path = save_audio(stereo, tmp_path / "out" / "tone.wav", SR)
    assert path == tmp_path / "out" / "tone.wav"
    with wave.open(str(path), "rb") as handle:
        assert (handle.getnchannels(), handle.getsampwidth(), handle.getframerate()) == (2, 2, SR)
        assert handle.getnframes() == len(stereo)
        pcm = np.frombuffer(handle.readframes(len(stereo)), dtype="<i2").reshape(-1, 2)
    np.testing.assert_array_equal(pcm[0], [32767, -32767])
    np.testing.assert_allclose(pcm[1:] / 32767.0, stereo[1:], atol=1 / 32767)
    assert sorted(p.name for p in path.parent.iterdir()) == ["tone.wav"]  # no temporary file left behind
    assert wav_bytes(stereo, SR) == path.read_bytes()

    mono = save_audio(np.zeros(100, dtype=np.int16), tmp_path / "mono.wav", 8000)
    with wave.open(str(mono), "rb") as handle:
        assert (handle.getnchannels(), handle.getnframes(), handle.getframerate()) == (1, 100, 8000)


def test_bad_audio_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NaN"):
        save_audio(np.array([0.0, np.nan]), tmp_path / "a.wav")
    with pytest.raises(ValueError, match="shape"):
        save_audio(np.zeros((2, 3, 4)), tmp_path / "a.wav")
    with pytest.raises(ValueError, match="dtype"):
        save_audio(np.zeros(4, dtype=np.int32), tmp_path / "a.wav")
    assert not (tmp_path / "a.wav").exists()


def test_roll_save_audio_writes_a_wav_of_the_rendering(fluid: None, chorale: Roll, tmp_path: Path) -> None:
    excerpt = chorale.bars(0, 1)
    path = excerpt.save_audio(tmp_path / "bar.wav", sample_rate=SR)
    with wave.open(str(path), "rb") as handle:
        assert handle.getnchannels() == 2 and handle.getframerate() == SR
        assert abs(handle.getnframes() - (excerpt.seconds + 1.0) * SR) <= 2


# ---------------------------------------------------------------------------------------------- command line
def test_render_command(fluid: None, chorale: Roll, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    midi = tmp_path / "bars.mid"
    chorale.bars(0, 2).to_midi(midi)
    parser = argparse.ArgumentParser(prog="symdiff")
    sub = parser.add_subparsers(dest="command")
    add_render_command(sub)
    args = parser.parse_args(["render", str(midi), str(tmp_path / "bars.wav"), "--sample-rate", str(SR), "--quiet"])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output"] == str(tmp_path / "bars.wav") and summary["sample_rate"] == SR
    with wave.open(str(tmp_path / "bars.wav"), "rb") as handle:
        assert handle.getframerate() == SR
        assert handle.getnframes() / SR == pytest.approx(summary["seconds"], abs=1e-3)
    assert summary["seconds"] == pytest.approx(chorale.bars(0, 2).seconds + 1.0, abs=1e-3)
    help_text = sub.choices["render"].format_help()
    assert "symdiff render song.mid song.wav" in help_text and "--soundfont" in help_text

    out = render_file(midi, tmp_path / "again.wav", sample_rate=SR)
    assert out.read_bytes() == (tmp_path / "bars.wav").read_bytes()  # rendering is deterministic
