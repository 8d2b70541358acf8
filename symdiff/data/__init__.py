"""Data sets: where training pieces come from and how they are split.

:mod:`symdiff.data.sources` declares each corpus (MAESTRO, Lakh MIDI, a folder of MIDI files, the music21 corpus)
as data: its card (:class:`~symdiff.data.sources.SourceInfo`), its listing of pieces with their official split and
labels (:class:`~symdiff.data.sources.PieceRef`), and how to get the MIDI bytes of one piece.
"""
