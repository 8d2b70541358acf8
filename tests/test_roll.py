"""Hand-built pieces whose expected notes and tensors are written out: the edge cases of the representation."""

from __future__ import annotations

import io

import mido
import numpy as np
import pretty_midi
import pytest
import symusic
import torch

from symdiff import Grid, Roll, TrackLayout, TrackSpec
from symdiff.grid import tempo_map
from symdiff.midi import METER_DTYPE
from symdiff.notes import NOTE_DTYPE, canonical, make_notes

TPQ = 480


def score(*tracks: tuple[str, int, bool, list[tuple[int, int, int, int]]], tempos=((0, 120.0),), meters=((0, 4, 4),)):
    """A symusic Score: tracks as (name, program, is_drum, [(tick, duration, pitch, velocity)])."""
    s = symusic.Score(TPQ)
    for tick, qpm in tempos:
        s.tempos.append(symusic.Tempo(tick, qpm=qpm))
    for tick, num, den in meters:
        s.time_signatures.append(symusic.TimeSignature(tick, num, den))
    for name, program, is_drum, notes in tracks:
        t = symusic.Track(name=name, program=program, is_drum=is_drum)
        for n in notes:
            t.notes.append(symusic.Note(*n))
        s.tracks.append(t)
    return s


def rows(roll: Roll) -> list[tuple[int, int, int, int, int]]:
    """(track, pitch, onset, duration, velocity) of each note."""
    n = roll.notes
    return list(
        zip(
            n["track"].tolist(),
            n["pitch"].tolist(),
            n["onset"].tolist(),
            n["duration"].tolist(),
            n["velocity"].tolist(),
        )
    )


PIANO = TrackLayout((TrackSpec("Piano", 0, programs=tuple(range(128)), pitch_range=(60, 62)),), name="tiny")


def test_repeated_notes_stay_distinct_from_a_held_note() -> None:
    # two quarter notes on C4 at 4 steps per beat, then one half note on D4
    s = score(("p", 0, False, [(0, 480, 60, 100), (480, 480, 60, 50), (0, 960, 62, 80)]))
    roll = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)
    expected = np.zeros((1, 3, 3, 8), dtype=np.float32)
    expected[0, 0, 0] = [1, 0, 0, 0, 1, 0, 0, 0]  # onsets C4
    expected[0, 1, 0] = [1, 1, 1, 1, 1, 1, 1, 1]  # frames C4
    expected[0, 2, 0] = [100 / 127] * 4 + [50 / 127] * 4  # velocities C4
    expected[0, 0, 2] = [1, 0, 0, 0, 0, 0, 0, 0]
    expected[0, 1, 2] = [1, 1, 1, 1, 1, 1, 1, 1]
    expected[0, 2, 2] = [80 / 127] * 8
    np.testing.assert_allclose(roll.to_tensor().numpy(), expected, rtol=0, atol=1e-7)
    assert rows(Roll.from_tensor(roll.tensor, layout=PIANO, grid=roll.grid)) == rows(roll)


def test_overlapping_same_pitch_notes_are_cut_and_same_onset_notes_merge() -> None:
    s = score(("p", 0, False, [(0, 960, 60, 90), (480, 960, 60, 70), (0, 240, 62, 30), (0, 720, 62, 60)]))
    roll = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)
    # C4: [0,8) then [4,12) -> [0,4) and [4,12); D4: same onset -> one note, longest, loudest
    assert rows(roll) == [(0, 60, 0, 4, 90), (0, 62, 0, 6, 60), (0, 60, 4, 8, 70)]


def test_zero_length_notes_last_one_step_and_grid_rounds_half_up() -> None:
    s = score(("p", 0, False, [(0, 0, 60, 100), (60, 10, 61, 100), (59, 10, 62, 100)]))
    roll = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)  # one step = 120 ticks; 60 ticks rounds up
    assert rows(roll) == [(0, 60, 0, 1, 100), (0, 62, 0, 1, 100), (0, 61, 1, 1, 100)]


def test_notes_across_tempo_changes_on_both_grids() -> None:
    # 120 qpm for one beat, then 60 qpm: beat 1 is at 0.5 s, beat 2 at 1.5 s
    s = score(
        ("p", 0, False, [(0, 480, 60, 100), (480, 480, 61, 100), (960, 480, 62, 100)]), tempos=((0, 120.0), (480, 60.0))
    )
    beat = Roll.from_midi(s, layout=PIANO, steps_per_beat=2)
    assert rows(beat) == [(0, 60, 0, 2, 100), (0, 61, 2, 2, 100), (0, 62, 4, 2, 100)]
    assert beat.tempos.tolist() == [(0, 120.0), (2, 60.0)]
    assert beat.seconds == pytest.approx(2.5)
    secs = Roll.from_midi(s, layout=PIANO, frames_per_second=10, sustain_pedal=False)
    assert rows(secs) == [(0, 60, 0, 5, 100), (0, 61, 5, 10, 100), (0, 62, 15, 10, 100)]
    assert secs.tempos.tolist() == [(0, 120.0), (5, 60.0)]
    # the seconds grid knows where the bars are from the tempo map: 4/4 -> a bar every 4 beats
    np.testing.assert_array_equal(secs.bar_starts(), [0])
    again = Roll.from_midi(secs.to_midi_bytes(), layout=PIANO, frames_per_second=10)
    assert rows(again) == rows(secs) and again.tempos.tolist() == secs.tempos.tolist()


def test_pickup_bar_and_odd_meters() -> None:
    # a 1/4 pickup, two bars of 6/8, one of 7/8, at 4 steps per beat
    meters = ((0, 1, 4), (480, 6, 8), (480 + 2 * 1440, 7, 8))
    s = score(("p", 0, False, [(0, 480, 60, 100), (480 + 2 * 1440 + 1680 - 240, 240, 61, 100)]), meters=meters)
    roll = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)
    np.testing.assert_array_equal(roll.bar_starts(), [0, 4, 16, 28])
    assert roll.length == 42 and roll.num_bars == 4
    assert roll.bars(3, 4).length == 14  # a 7/8 bar is 3.5 beats = 14 steps
    assert [(m["numerator"], m["denominator"]) for m in roll.bars(1, 3).meters] == [(6, 8)]
    assert rows(roll.bars(3, 4)) == [(0, 61, 12, 2, 100)]


def test_drums_go_to_the_drum_track_and_are_written_on_channel_10() -> None:
    s = score(("Kit", 0, True, [(0, 10, 36, 120), (240, 10, 38, 90)]), ("Bass", 33, False, [(0, 960, 40, 80)]))
    roll = Roll.from_midi(s, layout="gm", steps_per_beat=4)
    drums = roll.layout.index("Drums")
    bass = roll.layout.index("Bass")
    assert rows(roll) == [(bass, 40, 0, 8, 80), (drums, 36, 0, 1, 120), (drums, 38, 2, 1, 90)]
    assert roll.programs[bass] == 33
    data = roll.to_midi_bytes()
    channels = {
        t.name: {m.channel for m in t if m.type == "note_on"} for t in mido.MidiFile(file=io.BytesIO(data)).tracks
    }
    assert channels["Drums"] == {9} and 9 not in channels["Bass"]
    pm = roll.to_midi()
    assert {(i.name, i.program, i.is_drum) for i in pm.instruments} == {("Bass", 33, False), ("Drums", 0, True)}


def test_empty_tracks_are_left_out_unless_asked_for() -> None:
    s = score(("Piano", 0, False, [(0, 480, 60, 100)]), ("Strings", 48, False, []))
    roll = Roll.from_midi(s, layout="lpd5", steps_per_beat=4)
    assert [t.name for t in roll.to_score().tracks] == ["Piano"]
    assert [t.name for t in roll.to_score(keep_empty_tracks=True).tracks] == [
        "Drums",
        "Piano",
        "Guitar",
        "Bass",
        "Strings",
    ]


def test_trailing_silence_and_metadata_survive_writing(tmp_path) -> None:
    s = score(("p", 0, False, [(0, 480, 60, 100)]), tempos=((0, 90.0),), meters=((0, 3, 4),))
    s.key_signatures.append(symusic.KeySignature(0, -3, 1))
    s.tracks[0].controls.append(symusic.ControlChange(480 * 6, 7, 100))  # the piece ends two bars in
    roll = Roll.from_midi(s, layout="gm", steps_per_beat=12)
    assert roll.length == 72 and roll.num_bars == 2
    pm = roll.to_midi(tmp_path / "out.mid")
    assert (tmp_path / "out.mid").is_file()
    assert pm.get_end_time() == pytest.approx(6 * 60 / 90)
    assert pm.time_signature_changes[0].numerator == 3
    assert pm.key_signature_changes[0].key_number == pretty_midi.key_name_to_key_number("C minor")
    assert pm.get_tempo_changes()[1][0] == pytest.approx(90.0)
    again = Roll.from_midi(tmp_path / "out.mid", layout="gm", steps_per_beat=12)
    assert again.length == 72 and rows(again) == rows(roll)


def test_sustain_pedal_is_folded_into_note_lengths() -> None:
    s = score(("p", 0, False, [(0, 240, 60, 100), (480, 240, 61, 100), (960, 240, 60, 100)]))
    s.tracks[0].controls.append(symusic.ControlChange(100, 64, 127))
    s.tracks[0].controls.append(symusic.ControlChange(1300, 64, 0))
    s = symusic.Score.from_midi(s.dumps_midi())  # pedals are derived from CC64 when parsing
    folded = Roll.from_midi(s, layout=PIANO, steps_per_beat=4, sustain_pedal=True)
    # C4 is held by the pedal until C4 is struck again at step 8; C#4 until the pedal lifts (1300 ticks ~ step 11)
    assert rows(folded) == [(0, 60, 0, 8, 100), (0, 61, 4, 7, 100), (0, 60, 8, 3, 100)]
    plain = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)
    assert rows(plain) == [(0, 60, 0, 2, 100), (0, 61, 4, 2, 100), (0, 60, 8, 2, 100)]


def test_pitch_ranges_and_unclaimed_instruments_are_dropped_and_counted() -> None:
    s = score(("p", 0, False, [(0, 480, 59, 100), (0, 480, 60, 100)]), ("kit", 0, True, [(0, 10, 36, 100)]))
    roll = Roll.from_midi(s, layout=PIANO, steps_per_beat=4)
    assert rows(roll) == [(0, 60, 0, 4, 100)]
    assert roll.metadata["dropped_notes"] == 1  # B3 is below the track's range; the drum kit has no track at all


def test_custom_layout_by_track_name() -> None:
    layout = TrackLayout.custom(
        [TrackSpec("Melody", 73, name_pattern=r"melody|lead"), TrackSpec("Rest", 0, programs=tuple(range(128)))]
    )
    s = score(("Lead vocal", 0, False, [(0, 480, 72, 100)]), ("Piano", 0, False, [(0, 480, 60, 100)]))
    roll = Roll.from_midi(s, layout=layout, steps_per_beat=4)
    assert rows(roll) == [(0, 72, 0, 4, 100), (1, 60, 0, 4, 100)]
    assert TrackLayout.from_dict(layout.to_dict()) == layout


def test_slices_and_bars_concatenate_back_exactly() -> None:
    rng = np.random.default_rng(0)
    onset = np.sort(rng.integers(0, 200, 300))
    notes = canonical(make_notes(onset, rng.integers(1, 40, 300), rng.integers(60, 63, 300), rng.integers(1, 128, 300)))
    roll = Roll(
        notes=notes,
        length=240,
        layout=PIANO,
        grid=Grid(steps_per_beat=4),
        tempos=tempo_map([0, 50], [100.0, 80.0]),
        meters=np.array([(0, 4, 4), (64, 3, 4)], dtype=METER_DTYPE),
    )
    parts = [roll[0:37], roll[37:100], roll[100:240]]
    joined = Roll.concatenate(parts)
    np.testing.assert_array_equal(joined.notes, roll.notes)
    assert joined.length == roll.length
    assert joined.tempos.tolist() == roll.tempos.tolist() and joined.meters.tolist() == roll.meters.tolist()
    # a window's tensor equals the same steps of the whole piece's tensor
    torch.testing.assert_close(roll[37:100].tensor, roll.tensor[..., 37:100])
    bars = [roll.bars(i, i + 1) for i in range(roll.num_bars)]
    np.testing.assert_array_equal(Roll.concatenate(bars).notes, roll.notes)


def test_transpose_moves_pitched_tracks_only() -> None:
    s = score(("p", 0, False, [(0, 480, 60, 100)]), ("kit", 0, True, [(0, 10, 36, 100)]))
    roll = Roll.from_midi(s, layout="gm", steps_per_beat=4)
    up = roll.transpose(2)
    assert sorted(up.notes["pitch"].tolist()) == [36, 62]
    assert len(Roll.from_midi(s, layout=PIANO, steps_per_beat=4).transpose(3).notes) == 0  # out of range: dropped


def test_from_tensor_validates_shape() -> None:
    with pytest.raises(ValueError, match="expected shape"):
        Roll.from_tensor(torch.zeros(2, 3, 3, 8), layout=PIANO)


def test_note_dtype_is_compact() -> None:
    assert NOTE_DTYPE.itemsize == 11


def test_tensor_of_chosen_tracks_only() -> None:
    s = score(("Kit", 0, True, [(0, 10, 36, 120)]), ("Bass", 33, False, [(0, 960, 40, 80)]))
    roll = Roll.from_midi(s, layout="gm", steps_per_beat=4)
    assert roll.nonempty_tracks() == [roll.layout.index("Bass"), roll.layout.index("Drums")]
    both = roll.to_tensor(tracks=["Drums", "Bass"])
    assert both.shape == (2, 3, 128, 8)
    torch.testing.assert_close(both[0], roll.tensor[roll.layout.index("Drums")])
    torch.testing.assert_close(both[1], roll.tensor[roll.layout.index("Bass")])
    with pytest.raises(ValueError, match="no track named 'Tuba'"):
        roll.to_tensor(tracks=["Tuba"])
