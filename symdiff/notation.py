"""Notation: a Roll as a music21 score and as MusicXML (for MuseScore, Finale, Sibelius, Dorico, ...).

The Roll's own MIDI (:meth:`symdiff.Roll.to_midi_bytes`: tempo map, time and key signatures, one named track per
non-empty layout track) is read by music21 with its durations quantised to the Roll's grid
(:func:`quarter_divisors`), then each part is given its track's name and instrument (drum tracks an unpitched
percussion instrument), and the score is written as MusicXML.
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from .files import atomic_write_bytes

if TYPE_CHECKING:
    import music21

    from .roll import Roll

#: the finest note values notation is quantised to: 32nd notes and sextuplet 16ths
_MAX_BINARY, _MAX_TERNARY = 8, 6
_MXL_CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container>
  <rootfiles>
    <rootfile full-path="score.musicxml" media-type="application/vnd.recordare.musicxml+xml"/>
  </rootfiles>
</container>
"""


def quarter_divisors(steps_per_beat: int | None) -> tuple[int, ...]:
    """music21's ``quarterLengthDivisors`` for a beat grid: the finest binary (up to 8, 32nd notes) and ternary (up
    to 6, sextuplet 16ths) divisions of a quarter note that the grid holds; ``(4, 3)`` for a seconds grid.

    Examples: 12 steps per beat -> ``(4, 6)``; 4 -> ``(4,)``; 24 -> ``(8, 6)``; 3 -> ``(3,)``.
    """
    if steps_per_beat is None:
        return (4, 3)
    binary = max(d for d in (1, 2, 4, _MAX_BINARY) if steps_per_beat % d == 0)
    ternary = max((d for d in (3, _MAX_TERNARY) if steps_per_beat % d == 0), default=0)
    out = tuple(d for d in (binary, ternary) if d > 1)
    return out or (1,)


def to_music21(roll: Roll, divisors: tuple[int, ...] | None = None, title: str | None = None) -> music21.stream.Score:
    """The Roll as a ``music21.stream.Score``: one part per non-empty track, named after it, with its instrument.

    Args:
        roll: the music.
        divisors: music21 ``quarterLengthDivisors`` (default :func:`quarter_divisors` of the Roll's grid).
        title: the score's title (default: the source file's name, when the Roll has one).
    """
    import music21

    divisors = divisors or quarter_divisors(roll.grid.steps_per_beat)
    score = music21.converter.parse(
        roll.to_midi_bytes(), format="midi", quantizePost=True, quarterLengthDivisors=tuple(divisors)
    )
    tracks = roll.nonempty_tracks()
    parts = list(score.parts)
    if len(parts) != len(tracks):
        raise RuntimeError(
            f"music21 read {len(parts)} parts from the Roll's MIDI, which holds {len(tracks)} tracks "
            f"({', '.join(roll.layout.tracks[i].name for i in tracks)})"
        )
    for part, index in zip(parts, tracks):
        spec = roll.layout.tracks[index]
        _set_instrument(part, _instrument(spec.name, int(roll.programs[index]), spec.is_drum))
    source = roll.metadata.get("source")
    name = (
        title if title is not None else (Path(str(source)).stem if source and not str(source).startswith("<") else "")
    )
    if name:
        score.insert(0, music21.metadata.Metadata())
        score.metadata.title = name
    return score


def _instrument(name: str, program: int, is_drum: bool) -> music21.instrument.Instrument:
    """A music21 instrument for a track: unpitched percussion for drums, else the General MIDI ``program``'s."""
    from music21 import instrument

    if is_drum:
        inst = instrument.UnpitchedPercussion()
        inst.midiChannel = 9
    else:
        try:
            inst = instrument.instrumentFromMidiProgram(program)
        except instrument.InstrumentException:
            inst = instrument.Instrument()
        inst.midiProgram = program
    inst.partName = name
    inst.partAbbreviation = name[:4] + "." if len(name) > 5 else name
    return inst


def _set_instrument(part: music21.stream.Part, inst: music21.instrument.Instrument) -> None:
    """Replace the instruments music21 guessed for ``part`` (from the track name and program change) by ``inst``."""
    from music21 import instrument

    for old in list(part.recurse().getElementsByClass(instrument.Instrument)):
        site = old.activeSite
        if site is not None:
            site.remove(old)
    first = part.getElementsByClass("Measure").first()
    (first if first is not None else part).insert(0, inst)
    part.partName = inst.partName
    part.partAbbreviation = inst.partAbbreviation


def musicxml_bytes(score: music21.stream.Score) -> bytes:
    """Uncompressed MusicXML of a music21 score."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    return bytes(GeneralObjectExporter(score).parse())


def to_musicxml(
    roll: Roll,
    path: str | os.PathLike[str],
    *,
    divisors: tuple[int, ...] | None = None,
    title: str | None = None,
) -> Path:
    """Write the Roll as MusicXML, atomically, and return the path.

    ``.mxl`` gives compressed MusicXML; any other name (``.musicxml``, ``.xml``) plain MusicXML. Durations are
    quantised to the Roll's grid (see :func:`quarter_divisors`); each part carries its track's name and
    instrument, and the score the tempo map, time and key signatures.
    """
    xml = musicxml_bytes(to_music21(roll, divisors=divisors, title=title))
    path = Path(path)
    if path.suffix.lower() == ".mxl":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("mimetype", "application/vnd.recordare.musicxml", compress_type=zipfile.ZIP_STORED)
            archive.writestr("META-INF/container.xml", _MXL_CONTAINER, compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr("score.musicxml", xml, compress_type=zipfile.ZIP_DEFLATED)
        xml = buffer.getvalue()
    return atomic_write_bytes(path, xml)
