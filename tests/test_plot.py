"""Piano-roll pictures and the Jupyter view of a Roll: what is drawn (a coloured collection per track, a line per
bar, pitch names, velocity as opacity) and what the HTML holds (a PNG and a WAV)."""

from __future__ import annotations

import base64
import re
import sys

import numpy as np
import pytest
import symusic

from symdiff import Roll
from symdiff.plot import BAR_LINES_GID, bar_positions, pitch_name, plot_roll, roll_html, roll_png

pytest.importorskip("matplotlib")

TPQ = 480


@pytest.fixture(scope="module")
def chorale() -> Roll:
    """Bach's chorale BWV 66.6 from the music21 corpus (four voices, 9 bars)."""
    import music21

    data = music21.midi.translate.streamToMidiFile(music21.corpus.parse("bach/bwv66.6")).writestr()
    return Roll.from_midi(data, layout="voices", steps_per_beat=4)


@pytest.fixture(scope="module")
def band() -> Roll:
    """Drums, bass and piano (lpd5) in 3/4 then 2/4, with two velocities in the piano."""
    s = symusic.Score(TPQ)
    s.tempos.append(symusic.Tempo(0, qpm=100.0))
    s.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    s.time_signatures.append(symusic.TimeSignature(2 * 3 * TPQ, 2, 4))  # bars 3 and 4 in 2/4
    for name, program, is_drum, notes in (
        ("Piano", 0, False, [(0, TPQ, 60, 30), (TPQ, TPQ, 64, 120), (3 * TPQ, 6 * TPQ, 67, 120)]),
        ("Bass", 33, False, [(0, 3 * TPQ, 36, 90), (3 * TPQ, 3 * TPQ, 43, 90)]),
        ("Drums", 0, True, [(i * TPQ, TPQ // 2, 36 if i % 3 == 0 else 42, 100) for i in range(10)]),
    ):
        track = symusic.Track(name=name, program=program, is_drum=is_drum)
        for n in notes:
            track.notes.append(symusic.Note(*n))
        s.tracks.append(track)
    return Roll.from_midi(s, layout="lpd5", steps_per_beat=4)


def note_collections(figure) -> dict[str, object]:
    """The PolyCollections of a piano roll, by track name."""
    from matplotlib.collections import PolyCollection

    ax = figure.axes[0]
    return {c.get_label(): c for c in ax.collections if isinstance(c, PolyCollection)}


def test_each_track_has_its_colour_its_notes_and_a_legend_entry(chorale: Roll) -> None:
    figure = plot_roll(chorale, title="BWV 66.6")
    ax = figure.axes[0]
    collections = note_collections(figure)
    assert list(collections) == ["Soprano", "Alto", "Tenor", "Bass"]
    counts = np.bincount(chorale.notes["track"], minlength=4)
    assert [len(c.get_paths()) for c in collections.values()] == counts.tolist()
    colours = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in collections.values()}
    assert len(colours) == 4  # one colour per track
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert ax.get_title() == "BWV 66.6"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "C4" in labels and all(re.fullmatch(r"[A-G]#?-?\d", label) for label in labels)


def test_bar_lines_and_an_x_axis_in_bars(band: Roll) -> None:
    figure = plot_roll(band)
    ax = figure.axes[0]
    (lines,) = [c for c in ax.collections if c.get_gid() == BAR_LINES_GID]
    assert len(lines.get_segments()) == band.num_bars == 4
    assert [seg[0][0] for seg in lines.get_segments()] == [0.0, 1.0, 2.0, 3.0]
    # 38 steps: two 3/4 bars (12 steps each), a 2/4 bar (8) and 6 steps of the next 2/4 bar
    assert ax.get_xlabel() == "bar" and ax.get_xlim() == pytest.approx((0.0, 3.75))
    assert bar_positions(band, np.array([12, 24, 30, 36])).tolist() == [1.0, 2.0, 2.75, 3.5]
    collections = note_collections(figure)
    assert set(collections) == {"Drums", "Piano", "Bass"}
    piano = collections["Piano"].get_paths()
    assert [(p.vertices[:, 0].min(), p.vertices[:, 0].max()) for p in piano][-1] == pytest.approx((1.0, 3.5))


def test_velocity_is_drawn_as_opacity(band: Roll) -> None:
    piano = note_collections(plot_roll(band))["Piano"]
    alphas = piano.get_facecolor()[:, 3]
    velocities = band.notes["velocity"][band.notes["track"] == band.layout.track_indices(["Piano"])[0]]
    assert np.all(np.diff(alphas[np.argsort(velocities)]) >= 0)
    assert alphas.min() == pytest.approx(0.25 + 0.75 * 30 / 127)
    assert alphas.max() == pytest.approx(0.25 + 0.75 * 120 / 127)


def test_seconds_axis_without_bar_lines_and_given_axes(band: Roll) -> None:
    from matplotlib.figure import Figure

    figure = Figure()
    ax = figure.add_subplot()
    assert plot_roll(band, ax=ax, bars=False) is figure
    assert ax.get_xlabel() == "seconds" and ax.get_xlim()[1] == pytest.approx(band.seconds)
    assert not [c for c in ax.collections if c.get_gid() == BAR_LINES_GID]


def test_an_empty_roll_still_draws(band: Roll) -> None:
    silent = Roll.from_tensor(np.zeros((5, 3, band.layout.num_pitches, 8)), layout="lpd5", grid=band.grid)
    figure = plot_roll(silent)
    assert note_collections(figure) == {} and figure.axes[0].get_legend() is None
    assert plot_roll(band.slice(0, 0)).axes  # no steps at all


def test_pitch_names() -> None:
    assert [pitch_name(p) for p in (21, 60, 61, 69, 108, 0)] == ["A0", "C4", "C#4", "A4", "C8", "C-1"]


def test_png_bytes_and_no_pyplot(chorale: Roll) -> None:
    had_pyplot = "matplotlib.pyplot" in sys.modules
    png = roll_png(chorale, dpi=50)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > height > 100
    if not had_pyplot:
        assert "matplotlib.pyplot" not in sys.modules  # figures are made without pyplot's global state


def test_jupyter_html_embeds_the_picture_and_the_audio(chorale: Roll) -> None:
    from symdiff.render import AudioUnavailableError, _fluidsynth

    try:
        _fluidsynth()
    except AudioUnavailableError as err:
        pytest.skip(f"FluidSynth is not installed: {err}")
    excerpt = chorale.bars(0, 2)
    page = excerpt._repr_html_()
    assert page is not None and "<img" in page and "<audio controls" in page
    assert "Roll(" in page and "&#x27;voices&#x27;" in page  # the summary line, escaped
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page).group(1))
    wav = base64.b64decode(re.search(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)", page).group(1))
    assert png[:4] == b"\x89PNG"
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert len(wav) == pytest.approx(44 + 2 * 22050 * (excerpt.seconds + 1.0), abs=8)  # mono 16-bit 22.05 kHz


def test_jupyter_html_without_fluidsynth_says_why(chorale: Roll, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fluidsynth", None)  # what `import fluidsynth` meets when it is missing
    page = roll_html(chorale.bars(0, 1))
    assert "<img" in page and "<audio" not in page
    assert "no audio" in page and "libfluidsynth3" in page


def test_jupyter_html_skips_audio_for_long_pieces(chorale: Roll) -> None:
    page = roll_html(chorale, max_audio_seconds=5.0)
    assert "<audio" not in page and "max_audio_seconds=5" in page
