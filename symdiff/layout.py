"""Track layouts: which source instruments go to which track of a Roll, and how each track is written back.

A :class:`TrackLayout` is an ordered tuple of :class:`TrackSpec`. Reading a MIDI file, every source track (its
General MIDI program, drum flag and name) is assigned to one layout track, or dropped; notes outside a track's
pitch range are dropped and counted. Writing, each non-empty layout track becomes one named MIDI track with its
program (the program most used by the source notes when the Roll came from a file, else the layout's default).

Presets (``TrackLayout.preset(name)``, or just the name wherever a layout is taken):

- ``piano``: one track; every pitched instrument is merged into it, drums are dropped; pitches A0..C8.
- ``lpd5``: Drums, Piano, Guitar, Bass, Strings, as in the Lakh Pianoroll Dataset (LPD-5, Dong et al. 2018):
  every pitched instrument that is not a piano, guitar or bass goes to Strings.
- ``gm``: the 16 General MIDI program families (8 programs each) plus Drums: 17 tracks, nothing dropped.
- ``voices``: Soprano, Alto, Tenor, Bass, assigned by part name (``Canto``/``Cantus``/``Superius`` → Soprano,
  ``Altus``/``Quinto``/``Contratenor`` → Alto, ``Sextus`` → Tenor, ``Bassus``/``Continuo`` → Bass; an unnamed part,
  such as a folk tune's melody, → Soprano); parts with other names (instruments doubling the choir) are dropped.
  Pitches F#1..A6 (30..93). For vocal polyphony: chorales, motets, madrigals, melodies to harmonise.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import check_bool, check_instance, check_int, is_int, must_be

GM_FAMILIES: tuple[str, ...] = (
    "Piano",
    "Chromatic Percussion",
    "Organ",
    "Guitar",
    "Bass",
    "Strings",
    "Ensemble",
    "Brass",
    "Reed",
    "Pipe",
    "Synth Lead",
    "Synth Pad",
    "Synth Effects",
    "Ethnic",
    "Percussive",
    "Sound Effects",
)

PRESETS: tuple[str, ...] = ("piano", "lpd5", "gm", "voices")

#: the ``voices`` preset: (name, default program, part-name pattern); the first pattern that matches wins
VOICE_PARTS: tuple[tuple[str, int, str], ...] = (
    ("Soprano", 52, r"^\s*$|sopran|cant(o|us)\b|superius|discant|treble|melod"),
    ("Alto", 52, r"alt(o|us)\b|quint|contra|mezzo"),
    ("Tenor", 52, r"tenor|sext"),
    ("Bass", 52, r"bass|continuo"),
)
VOICE_PITCHES: tuple[int, int] = (30, 93)


@dataclass(frozen=True)
class TrackSpec:
    """One track of a layout.

    Attributes:
        name: the track name written to MIDI.
        program: General MIDI program (0-127) written back when the Roll does not know a better one.
        is_drum: a drum track (MIDI channel 10) takes only drum source tracks; a pitched one only pitched ones.
        programs: the source programs this track takes (pitched tracks only). Empty means none by program.
        name_pattern: optional regular expression; a source track whose name matches it (case-insensitive)
            goes to this track before programs are considered.
        pitch_range: lowest and highest MIDI pitch kept, inclusive.
    """

    name: str
    program: int = 0
    is_drum: bool = False
    programs: tuple[int, ...] = ()
    name_pattern: str | None = None
    pitch_range: tuple[int, int] = (0, 127)

    def __post_init__(self) -> None:
        check_instance("TrackSpec.name", self.name, str, "a non-empty string")
        if not self.name:
            raise ValueError(must_be("TrackSpec.name", "a non-empty string", self.name))
        where = f"TrackSpec {self.name!r}"
        check_int(f"{where}: program", self.program, allowed="an int in 0..127")
        if not 0 <= self.program <= 127:
            raise ValueError(f"{where}: program must be in 0..127, got {self.program}")
        check_bool(f"{where}: is_drum", self.is_drum, error=TypeError)
        bad = [p for p in self.programs if not (is_int(p) and 0 <= p <= 127)]
        if bad:
            raise ValueError(f"{where}: programs must be in 0..127, got {bad}")
        pair = isinstance(self.pitch_range, (tuple, list)) and len(self.pitch_range) == 2
        if not (pair and all(is_int(p) for p in self.pitch_range)):
            allowed = "(low, high) with 0 <= low <= high <= 127"
            raise ValueError(must_be(f"{where}: pitch_range", allowed, self.pitch_range))
        lo, hi = self.pitch_range
        if not 0 <= lo <= hi <= 127:
            raise ValueError(f"{where}: pitch_range must satisfy 0 <= low <= high <= 127, got {(lo, hi)}")
        if self.name_pattern is not None:
            check_instance(f"{where}: name_pattern", self.name_pattern, str, "a regular expression (str) or None")
            try:
                re.compile(self.name_pattern)
            except re.error as err:
                raise ValueError(
                    f"{where}: name_pattern {self.name_pattern!r} is not a regular expression ({err})"
                ) from None
        object.__setattr__(self, "is_drum", bool(self.is_drum))
        object.__setattr__(self, "programs", tuple(int(p) for p in self.programs))
        object.__setattr__(self, "pitch_range", (int(lo), int(hi)))


@dataclass(frozen=True)
class TrackLayout:
    """An ordered set of tracks and the rule that assigns source instruments to them.

    Args:
        tracks: the tracks, in tensor order.
        fallback: index of the track that takes pitched instruments no track claims (``None``: drop them).
        name: a short name for the layout (the preset name, or "custom").
    """

    tracks: tuple[TrackSpec, ...]
    fallback: int | None = None
    name: str = "custom"
    _program_map: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _patterns: tuple[tuple[int, re.Pattern[str], bool], ...] = field(init=False, repr=False, compare=False)
    _first_drum: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tracks = tuple(self.tracks)
        if not tracks:
            raise ValueError("a TrackLayout needs at least one track")
        for track in tracks:
            check_instance("a TrackLayout's tracks", track, TrackSpec, "TrackSpec objects")
        if len(tracks) > 255:
            raise ValueError(f"a TrackLayout holds at most 255 tracks, got {len(tracks)}")
        names = [t.name for t in tracks]
        if len(set(names)) != len(names):
            raise ValueError(f"track names must be unique, got {names}")
        if self.fallback is not None and not (
            is_int(self.fallback) and 0 <= self.fallback < len(tracks) and not tracks[self.fallback].is_drum
        ):
            raise ValueError(f"fallback must index a pitched track (0..{len(tracks) - 1}), got {self.fallback}")
        program_map = [-1] * 128
        for index, spec in enumerate(tracks):
            if spec.is_drum:
                continue
            for program in spec.programs:
                if program_map[program] == -1:
                    program_map[program] = index
        if self.fallback is not None:
            program_map = [self.fallback if i == -1 else i for i in program_map]
        object.__setattr__(self, "tracks", tracks)
        object.__setattr__(self, "_program_map", tuple(program_map))
        patterns = tuple(
            (i, re.compile(t.name_pattern, re.IGNORECASE), t.is_drum) for i, t in enumerate(tracks) if t.name_pattern
        )
        object.__setattr__(self, "_patterns", patterns)
        object.__setattr__(self, "_first_drum", next((i for i, t in enumerate(tracks) if t.is_drum), None))

    # ------------------------------------------------------------------ presets
    @classmethod
    def preset(cls, name: str) -> TrackLayout:
        """The named preset: one of ``piano``, ``lpd5``, ``gm``, ``voices`` (immutable, so shared)."""
        return _preset(name)

    @classmethod
    def _build_preset(cls, name: str) -> TrackLayout:
        if name == "piano":
            return cls((TrackSpec("Piano", 0, programs=tuple(range(128)), pitch_range=(21, 108)),), name="piano")
        if name == "lpd5":
            return cls(
                (
                    TrackSpec("Drums", 0, is_drum=True),
                    TrackSpec("Piano", 0, programs=tuple(range(0, 8))),
                    TrackSpec("Guitar", 24, programs=tuple(range(24, 32))),
                    TrackSpec("Bass", 32, programs=tuple(range(32, 40))),
                    TrackSpec("Strings", 48, programs=tuple(range(40, 56))),
                ),
                fallback=4,
                name="lpd5",
            )
        if name == "gm":
            families = tuple(
                TrackSpec(family, 8 * i, programs=tuple(range(8 * i, 8 * i + 8)))
                for i, family in enumerate(GM_FAMILIES)
            )
            return cls((*families, TrackSpec("Drums", 0, is_drum=True)), name="gm")
        if name == "voices":
            parts = tuple(
                TrackSpec(part, program, name_pattern=pattern, pitch_range=VOICE_PITCHES)
                for part, program, pattern in VOICE_PARTS
            )
            return cls(parts, name="voices")
        raise ValueError(f"unknown layout preset {name!r}; choose one of {', '.join(PRESETS)} or build a TrackLayout")

    @classmethod
    def resolve(cls, layout: TrackLayout | str | Mapping[str, Any]) -> TrackLayout:
        """A layout from a layout, a preset name or a dict made by :meth:`to_dict`."""
        if isinstance(layout, TrackLayout):
            return layout
        if isinstance(layout, str):
            return cls.preset(layout)
        if isinstance(layout, Mapping):
            return cls.from_dict(layout)
        raise TypeError(f"layout must be a TrackLayout, a preset name ({', '.join(PRESETS)}) or a dict, got {layout!r}")

    # ------------------------------------------------------------------ queries
    def __len__(self) -> int:
        return len(self.tracks)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tracks)

    @property
    def pitch_range(self) -> tuple[int, int]:
        """The pitches of the tensor's pitch axis: from the lowest to the highest any track keeps."""
        return min(t.pitch_range[0] for t in self.tracks), max(t.pitch_range[1] for t in self.tracks)

    @property
    def clips_pitches(self) -> bool:
        """Whether some track keeps less than the full MIDI range 0..127 (so reading must check pitches)."""
        return any(t.pitch_range != (0, 127) for t in self.tracks)

    @property
    def num_pitches(self) -> int:
        lo, hi = self.pitch_range
        return hi - lo + 1

    def index(self, name: str) -> int:
        """The index of the track called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"no track named {name!r} in layout {self.name!r}; tracks: {list(self.names)}") from None

    def track_indices(self, tracks: Iterable[int | str]) -> list[int]:
        """Indices for a mix of track indices and names, validated."""
        out = []
        for t in tracks:
            if isinstance(t, str):
                out.append(self.index(t))
            elif isinstance(t, int) and 0 <= t < len(self):
                out.append(int(t))
            else:
                raise ValueError(f"track {t!r} is neither a name in {list(self.names)} nor an index 0..{len(self) - 1}")
        return out

    def assign(self, program: int, is_drum: bool, name: str = "") -> int | None:
        """The layout track a source track goes to, or ``None`` when the layout drops it.

        A track name matching a spec's ``name_pattern`` wins (drum flag permitting); then a drum source goes to
        the first drum track; a pitched source goes to the track claiming its program, or to ``fallback``.
        """
        for index, pattern, drum in self._patterns:
            if drum == is_drum and pattern.search(name):
                return index
        if is_drum:
            return self._first_drum
        index = self._program_map[program & 127]
        return None if index < 0 else index

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fallback": self.fallback,
            "tracks": [
                {
                    "name": t.name,
                    "program": t.program,
                    "is_drum": t.is_drum,
                    "programs": list(t.programs),
                    "name_pattern": t.name_pattern,
                    "pitch_range": list(t.pitch_range),
                }
                for t in self.tracks
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackLayout:
        try:
            tracks = tuple(
                TrackSpec(
                    name=str(t["name"]),
                    program=int(t.get("program", 0)),
                    is_drum=bool(t.get("is_drum", False)),
                    programs=tuple(int(p) for p in t.get("programs", ())),
                    name_pattern=t.get("name_pattern"),
                    pitch_range=tuple(t.get("pitch_range", (0, 127))),  # type: ignore[arg-type]
                )
                for t in data["tracks"]
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a TrackLayout dict ({err!r}): {dict(data)!r}") from None
        return cls(tracks, fallback=data.get("fallback"), name=str(data.get("name", "custom")))

    @classmethod
    def custom(cls, tracks: Sequence[TrackSpec], fallback: int | None = None) -> TrackLayout:
        """A custom layout: ``TrackLayout.custom([TrackSpec("Lead", 80, programs=range(80, 88)), ...])``."""
        return cls(tuple(tracks), fallback=fallback, name="custom")


@functools.cache
def _preset(name: str) -> TrackLayout:
    return TrackLayout._build_preset(name)
