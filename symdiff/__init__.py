"""symdiff: symbolic music (MIDI) generation with diffusion models.

The public names live here; nothing runs at import time beyond importing numpy, torch and symusic.
"""

from .errors import MidiError, SymdiffError
from .grid import Grid
from .layout import TrackLayout, TrackSpec
from .midi import Limits
from .roll import Roll

__version__ = "0.1.0.dev0"

__all__ = ["Grid", "Limits", "MidiError", "Roll", "SymdiffError", "TrackLayout", "TrackSpec", "__version__"]
