"""Fuzzing ``Roll.from_midi`` and ``symdiff prepare`` with broken copies of the real files (``bench/fuzz.py``):
only :class:`symdiff.MidiError` escapes, no input takes 2 s, no crash, bounded memory; every input that ever broke
something (``tests/regressions/midi``) is read again; the harness itself catches crashes and hangs."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from symdiff.cli import main

from .conftest import REGRESSIONS

SHORT_RUN = 500
"""Inputs of the short run in the default suite (about 2-4 s)."""


def test_a_short_seeded_run_lets_only_midi_errors_escape(fuzz: ModuleType, shared_midi: Path) -> None:
    report = fuzz.fuzz(SHORT_RUN, seed=20_251_125, corpus=shared_midi, timeout=2.0)
    assert report.inputs == SHORT_RUN
    broken = [(f.index, f.outcome, f.detail, f.chain, f.options.tag()) for f in report.findings]
    assert not broken, f"inputs that broke Roll.from_midi (regenerate with make_input(seeds, 20251125, i)): {broken}"
    assert set(report.counts) <= {"ok", "MidiError"}
    # the run means something: many inputs read, many refused, every mutation tried
    assert report.counts["ok"] > SHORT_RUN // 10 and report.counts["MidiError"] > SHORT_RUN // 10
    assert set(report.mutations) >= set(fuzz.MUTATIONS)
    assert report.slowest < 2.0
    assert report.peak_rss_kib - report.baseline_rss_kib < 768 * 1024, "a worker grew by more than 768 MiB"


def test_every_saved_regression_input_is_read_or_refused_cleanly(fuzz: ModuleType) -> None:
    files = fuzz.regression_files(REGRESSIONS)
    assert files, f"no regression inputs in {REGRESSIONS}"
    results = fuzz.replay(REGRESSIONS, timeout=2.0, deep=True)
    broken = [(p.name, o.tag(), outcome, detail) for p, o, outcome, detail, _ in results if outcome in fuzz.BROKEN]
    assert not broken
    assert {p for p, *_ in results} == set(files)
    assert max(seconds for *_, seconds in results) < 2.0


def test_inputs_are_a_pure_function_of_seed_and_index(fuzz: ModuleType, shared_midi: Path) -> None:
    seeds = [(p.name, p.read_bytes()) for p in fuzz.corpus_files(shared_midi)[:20]]
    first = [fuzz.make_input(seeds, 7, i) for i in range(40)]
    assert first == [fuzz.make_input(seeds, 7, i) for i in range(40)]
    assert len({item.data for item in first}) > 30  # and they differ from one another
    data = seeds[0][1]
    for name, mutation in fuzz.MUTATIONS.items():
        a, b = mutation(data, random.Random(3)), mutation(data, random.Random(3))
        assert a == b, name
        assert len(a) <= len(data) + fuzz.MAX_INPUT + 2**16, name


def test_structural_mutations_keep_the_file_parseable_where_they_mean_to(fuzz: ModuleType, shared_midi: Path) -> None:
    """The event-level mutations edit events and rewrite correct chunk lengths, so the damage is the one meant."""
    data = (shared_midi / "other" / "bach_bwv_863.mid").read_bytes()
    assert fuzz.split_chunks(data) is not None
    tempo = fuzz.absurd_tempo(data, random.Random(0))
    assert fuzz.split_chunks(tempo) is not None and tempo != data
    assert fuzz.split_chunks(fuzz.giant_delta(data, random.Random(0))) is not None
    shrunk = fuzz.truncate(data, random.Random(1))
    assert len(shrunk) < len(data) and data.startswith(shrunk)
    events = fuzz.split_events(fuzz.split_chunks(data)[1][1])
    assert events is not None and fuzz.split_events(fuzz.join_events(events)) == events


def _hostile_reader(data: bytes, kwargs: dict[str, Any]) -> Any:
    """Dies like native code on b"crash", hangs on b"hang", computes for 1.5 s of CPU time on b"spin", raises a
    stray exception on b"bug"."""
    if data == b"spin":
        started = time.process_time()
        while time.process_time() - started < 1.5:
            pass
    if data == b"crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if data == b"hang":
        time.sleep(600)
    if data == b"bug":
        raise IndexError("a stray exception")
    from symdiff import Roll

    return Roll.from_midi(data, **kwargs)


def test_the_harness_catches_crashes_hangs_and_stray_exceptions(fuzz: ModuleType, tmp_path: Path) -> None:
    options = fuzz.Options()
    with fuzz.Harness(timeout=1.0, reader=_hostile_reader) as harness:
        assert harness.run(b"not midi", options)[0] == "MidiError"
        outcome, detail, _ = harness.run(b"crash", options)
        assert (outcome, detail) == ("crash", "SIGSEGV")
        started = time.monotonic()
        assert harness.run(b"hang", options)[0] == "timeout"  # no answer within 5 times the timeout
        assert time.monotonic() - started < 15
        outcome, detail, _ = harness.run(b"bug", options)
        assert outcome == "exception" and detail.startswith("IndexError at test_fuzz.py")
        assert harness.run(b"", options)[0] == "MidiError"  # a fresh worker after each death
        assert harness.restarts == 2  # the crash and the hang; a slow read leaves its worker running
    with fuzz.Harness(timeout=1.0, reader=_hostile_reader, wall=120) as harness:  # however loaded the machine is
        outcome, detail, seconds = harness.run(b"spin", options)  # it answers, after more CPU time than the timeout
        assert outcome == "timeout" and "s of CPU time (MidiError" in detail and seconds >= 1.5
        assert harness.restarts == 0
    saved = fuzz.save_input(tmp_path, b"crash", "crash", "SIGSEGV", options)
    assert saved.name.startswith("crash-SIGSEGV-gm-spb12-") and saved.read_bytes() == b"crash"
    assert fuzz.Options.from_tag(saved.name) == fuzz.Options("gm", "steps_per_beat", 12.0)


def test_the_minimiser_keeps_what_fails(fuzz: ModuleType, shared_midi: Path) -> None:
    data = (shared_midi / "other" / "bach_bwv_863.mid").read_bytes()
    broken = data[:-40] + b"\xff\x58\x04\x01\x07\x18\x08" + data[-40:]  # a 1/128 meter somewhere

    def still_fails(candidate: bytes) -> bool:
        return b"\x58\x04\x01\x07" in candidate and candidate.startswith(b"MThd")

    small = fuzz.minimize(broken, still_fails, seconds=20)
    assert still_fails(small) and len(small) < 40


def test_prepare_over_a_folder_of_fuzzed_files(fuzz: ModuleType, shared_midi: Path, tmp_path: Path) -> None:
    """``symdiff prepare folder`` (2 workers) finishes, logs exactly the inputs Roll.from_midi refuses (or that hold
    no notes) in errors.tsv with the same message, and converts the others."""
    seeds = [(p.name, p.read_bytes()) for p in fuzz.corpus_files(shared_midi)]
    items = [fuzz.make_input(seeds, 99, i) for i in range(48)]
    src = tmp_path / "fuzzed"
    src.mkdir()
    expected: dict[str, tuple[str, str]] = {}
    with fuzz.Harness(timeout=2.0) as harness:
        for item in items:
            name = f"input-{item.index:03d}.mid"
            (src / name).write_bytes(item.data)
            expected[name] = harness.run(item.data, fuzz.Options("gm", "steps_per_beat", 12, False))[:2]
    assert not [v for v in expected.values() if v[0] in fuzz.BROKEN]
    refused = {n for n, (outcome, detail) in expected.items() if outcome == "MidiError" or detail.startswith("0 notes")}
    assert 5 < len(refused) < len(items) - 5

    out = tmp_path / "cache"
    assert main(["prepare", "folder", str(src), str(out), "--workers", "2", "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [line.split("\t") for line in (out / "errors.tsv").read_text().splitlines()[1:]]
    assert {row[0] for row in rows} == refused
    for piece_id, _, error in rows:
        outcome, detail = expected[piece_id]
        assert error == detail if outcome == "MidiError" else error.startswith("no notes")
    assert manifest["counts"]["listed"] == len(items)
    assert manifest["counts"]["converted"] == len(items) - len(refused)


@pytest.mark.slow
def test_the_long_fuzz_run(fuzz: ModuleType, shared_midi: Path) -> None:
    """10,000 inputs (about a minute): only MidiError escapes, nothing takes 2 s, bounded memory."""
    report = fuzz.fuzz(10_000, seed=1, corpus=shared_midi, timeout=2.0, save=REGRESSIONS)
    assert not report.findings, [(f.index, f.outcome, f.detail, str(f.path)) for f in report.findings]
    assert report.slowest < 2.0
    assert report.peak_rss_kib - report.baseline_rss_kib < 768 * 1024
