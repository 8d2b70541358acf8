"""Notation export: MusicXML written through music21 read back by music21, and symdiff's MIDI and MusicXML imported
by a real notation program, MuseScore 3 (``mscore3``, headless; skipped when it is not installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import symusic

from symdiff import Roll
from symdiff.notation import quarter_divisors, to_music21, to_musicxml

music21 = pytest.importorskip("music21")

TPQ = 480


@pytest.fixture(scope="module")
def chorale() -> Roll:
    """Bach's chorale BWV 66.6 from the music21 corpus (four voices, 9 bars, F# minor, 4/4)."""
    data = music21.midi.translate.streamToMidiFile(music21.corpus.parse("bach/bwv66.6")).writestr()
    return Roll.from_midi(data, layout="voices", steps_per_beat=4)


@pytest.fixture(scope="module")
def band() -> Roll:
    """Piano, guitar, bass and drums (lpd5) at 100 qpm in 3/4: four bars of crotchets, with two triplet bars."""
    s = symusic.Score(TPQ)
    s.tempos.append(symusic.Tempo(0, qpm=100.0))
    s.time_signatures.append(symusic.TimeSignature(0, 3, 4))
    parts = (("Piano", 0, False, 60), ("Guitar", 25, False, 52), ("Bass", 33, False, 40), ("Drums", 0, True, 36))
    for name, program, is_drum, pitch in parts:
        track = symusic.Track(name=name, program=program, is_drum=is_drum)
        for bar in range(4):
            for beat in range(3):
                track.notes.append(symusic.Note(bar * 3 * TPQ + beat * TPQ, TPQ, pitch + (0 if is_drum else beat), 90))
        s.tracks.append(track)
    s.tracks[0].notes.extend(symusic.Note(12 * TPQ + i * TPQ // 3, TPQ // 3, 72 + i % 3, 80) for i in range(9))
    s.tracks[0].notes.append(symusic.Note(15 * TPQ, 3 * TPQ, 72, 80))
    return Roll.from_midi(s, layout="lpd5", steps_per_beat=12)


def count_notes(part) -> int:
    """Sounding notes of a music21 part: tied notes counted once, each note of a chord counted."""
    return sum(len(n.notes) if isinstance(n, music21.chord.ChordBase) else 1 for n in part.stripTies().recurse().notes)


def track_counts(roll: Roll) -> dict[str, int]:
    counts = np.bincount(roll.notes["track"], minlength=len(roll.layout))
    return {roll.layout.tracks[i].name: int(counts[i]) for i in roll.nonempty_tracks()}


def test_quarter_divisors_follow_the_grid() -> None:
    assert quarter_divisors(12) == (4, 6)
    assert quarter_divisors(4) == (4,)
    assert quarter_divisors(24) == (8, 6)
    assert quarter_divisors(3) == (3,)
    assert quarter_divisors(1) == (1,)
    assert quarter_divisors(None) == (4, 3)


def test_a_chorale_round_trips_through_musicxml(chorale: Roll, tmp_path: Path) -> None:
    path = to_musicxml(chorale, tmp_path / "bwv66.6.musicxml", title="BWV 66.6")
    assert path == tmp_path / "bwv66.6.musicxml" and [p.name for p in tmp_path.iterdir()] == [path.name]
    score = music21.converter.parse(path)
    assert [p.partName for p in score.parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert {p.partName: count_notes(p) for p in score.parts} == track_counts(chorale)  # a 16th grid: exact
    assert score.metadata.bestTitle == "BWV 66.6"
    assert [ts.ratioString for ts in score.parts[0].recurse().getElementsByClass("TimeSignature")] == ["4/4"]
    assert score.parts[0].recurse().getElementsByClass("KeySignature").first().sharps == 3  # F# minor
    (mark,) = score.parts[0].recurse().getElementsByClass("MetronomeMark")
    assert mark.number == pytest.approx(chorale.tempos["qpm"][0], abs=0.5)
    # pitches survive: the soprano's pitch sequence is the Roll's
    soprano = chorale.notes[chorale.notes["track"] == 0]
    written = [n.pitch.midi for n in score.parts[0].stripTies().recurse().notes]
    assert written == soprano["pitch"][np.argsort(soprano["onset"], kind="stable")].tolist()


def test_parts_carry_track_names_and_instruments(band: Roll, tmp_path: Path) -> None:
    path = band.to_musicxml(tmp_path / "band.mxl")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist()[0] == "mimetype" and "META-INF/container.xml" in archive.namelist()
    score = music21.converter.parse(path)
    names = [p.partName for p in score.parts]
    assert names == ["Drums", "Piano", "Guitar", "Bass"]  # lpd5 order
    programs = {n: band.programs[band.layout.track_indices([n])[0]] for n in names}
    for part in score.parts:
        (instrument,) = part.recurse().getElementsByClass("Instrument")
        if part.partName == "Drums":
            assert isinstance(instrument, music21.instrument.Percussion)
        else:
            assert (
                instrument.midiProgram
                == programs[part.partName]
                == {"Piano": 0, "Guitar": 25, "Bass": 33}[part.partName]
            )
    assert {p.partName: count_notes(p) for p in score.parts} == track_counts(band)
    triplets = [n for n in score.parts[1].recurse().notes if n.duration.tuplets]
    assert len(triplets) == 9  # the triplet eighths of bar 5 are written as triplets


def test_to_music21_matches_the_roll_in_memory(band: Roll) -> None:
    score = to_music21(band)
    assert len(score.parts) == len(band.nonempty_tracks())
    assert sum(count_notes(p) for p in score.parts) == len(band.notes)


# ---------------------------------------------------------------------------------------------- MuseScore 3
MSCORE = shutil.which("mscore3")
needs_musescore = pytest.mark.skipif(
    MSCORE is None, reason="MuseScore 3 (mscore3) is not installed: apt-get install --no-install-recommends musescore3"
)


def musescore(source: Path, target: Path) -> None:
    """Convert a file with MuseScore 3, headless."""
    assert MSCORE is not None
    done = subprocess.run(
        [MSCORE, "-o", str(target), str(source)],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and target.is_file(), done.stderr[-2000:]


@needs_musescore
def test_musescore_imports_our_midi_with_names_instruments_tempo_and_meter(band: Roll, tmp_path: Path) -> None:
    band.to_midi(tmp_path / "band.mid")
    musescore(tmp_path / "band.mid", tmp_path / "band.musicxml")
    root = ET.parse(tmp_path / "band.musicxml").getroot()
    parts = {p.get("id"): p for p in root.iter("score-part")}
    # MuseScore names a part "<its instrument>, <the MIDI track name>": "Steel Gtr., Guitar"
    names = {pid: p.findtext("part-name", "").split(", ")[-1] for pid, p in parts.items()}
    assert sorted(names.values()) == ["Bass", "Drums", "Guitar", "Piano"]
    for pid, name in names.items():
        instrument = parts[pid].find("midi-instrument")
        channel, program = int(instrument.findtext("midi-channel")), int(instrument.findtext("midi-program"))
        if name == "Drums":
            assert channel == 10
        else:  # MusicXML numbers programs from 1
            assert program - 1 == band.programs[band.layout.track_indices([name])[0]]
    measures = {p.get("id"): p.findall("measure") for p in root.iter("part")}
    first = next(iter(measures.values()))[0]
    assert (first.findtext("attributes/time/beats"), first.findtext("attributes/time/beat-type")) == ("3", "4")
    assert [s.get("tempo") for s in first.iter("sound") if s.get("tempo")] == ["100"]
    assert all(len(m) == 6 for m in measures.values())  # 6 bars of 3/4
    pitched = {
        names[pid]: sum(1 for m in bars for n in m.iter("note") if n.find("rest") is None)
        for pid, bars in measures.items()
    }
    assert pitched["Bass"] == pitched["Guitar"] == 12


@needs_musescore
def test_musescore_reads_our_musicxml(chorale: Roll, tmp_path: Path) -> None:
    to_musicxml(chorale, tmp_path / "chorale.musicxml")
    musescore(tmp_path / "chorale.musicxml", tmp_path / "chorale.mid")
    back = symusic.Score.from_file(tmp_path / "chorale.mid").to("quarter")
    assert len(back.tracks) == 4  # MuseScore writes no track names, so compare the tracks in order
    for index, track in enumerate(back.tracks):
        notes = track.notes.numpy()
        written = sorted(zip(np.round(notes["time"] * 4).astype(int).tolist(), notes["pitch"].tolist()))
        mine = chorale.notes[chorale.notes["track"] == index]
        assert written == sorted(zip(mine["onset"].tolist(), mine["pitch"].tolist()))
        np.testing.assert_allclose(np.sort(notes["duration"] * 4), np.sort(mine["duration"]), atol=0.01)
    assert back.tempos[0].qpm == pytest.approx(chorale.tempos["qpm"][0], abs=0.5)
