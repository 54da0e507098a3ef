"""The hostile-file fuzzer (issue 21): valid files of every format, their bytes flipped, cut,
zeroed, repeated or spliced with another format's (tests/hostile/mutate.py), each read by a
worker under the suite's memory and time limits (tests/hostile/runner.py).  Whatever the
bytes, the reader gives arrays (never the outside secrets) or nplstm's own one-line error:
never a foreign exception, a crash, a hang or the limit.

Examples per format: 30 under the ``ci`` Hypothesis profile (the default, derandomized), 300
under ``thorough`` (NPLSTM_HYPOTHESIS_PROFILE=thorough).
"""

import pytest
from hypothesis import Phase, given, settings, strategies as st

from tests.hostile import cases, mutate, runner
from tests.hostile.cases import Case
from tests.hostile.sandbox import Sandbox

for _extra in ("h5py", "onnx", "safetensors"):     # the suite reads every format
    pytest.importorskip(_extra, reason="needs the test extra (every file format)")

# format -> (builder of the valid file, the call that reads it)
SEEDS = {
    "pt": (cases.pt_valid, "load"),
    "pt_torch": (cases.pt_fixture("lstm"), "load"),
    "torchscript": (cases.pt_fixture("scripted"), "load"),
    "safetensors": (cases.st_valid, "load"),
    "npz": (cases.npz_valid, "load"),
    "onnx": (cases.onnx_build(), "onnx"),
    "h5": (cases.h5_from_fixture(), "load"),
    "keras": (cases.keras_from_fixture(), "load"),
}


class FuzzBench:
    """The valid files' bytes, and a worker reading mutated copies in the sandbox."""

    def __init__(self, root):
        self.sandbox = Sandbox(root)
        self.seeds, self.names = {}, {}
        for fmt, (build, _) in SEEDS.items():
            path, _ = build(self.sandbox.folder(f"seed-{fmt}"), self.sandbox)
            self.seeds[fmt], self.names[fmt] = path.read_bytes(), path.name
        self.worker = runner.Worker(self.sandbox.cwd)

    def read(self, fmt: str, data: bytes):
        """(answer, the Case it is judged as) for ``data`` read as format ``fmt``."""
        folder = self.sandbox.folder(f"fuzz-{fmt}")
        path = folder / self.names[fmt]
        path.write_bytes(data)
        case = Case(f"fuzz-{fmt}", fmt, "fuzz", None, "either", "a mutated valid file",
                    call=SEEDS[fmt][1])
        case.size = len(data)
        answer = self.worker.ask({"call": case.call, "path": str(path),
                                  "watch": self.sandbox.watch(f"fuzz-{fmt}")})
        return answer, case


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    bench = FuzzBench(tmp_path_factory.mktemp("fuzz"))
    yield bench
    bench.worker.close()


@pytest.mark.parametrize("fmt", sorted(SEEDS))
@settings(phases=(Phase.explicit, Phase.reuse, Phase.generate))   # no shrinking: the
@given(data=st.data())                                               # ops list says enough
def test_a_mutated_file_gives_arrays_or_one_line_of_nplstm(bench, fmt, data):
    seed = bench.seeds[fmt]
    donor_fmt = data.draw(st.sampled_from(sorted(SEEDS)), label="donor")
    donor = bench.seeds[donor_fmt]
    ops = data.draw(mutate.mutations(len(seed), len(donor)), label="mutations")
    answer, case = bench.read(fmt, mutate.apply(seed, ops, donor))
    problems = runner.verdict(answer, case)
    assert not problems, f"{fmt} mutated by {ops} (donor: {donor_fmt}): " + "; ".join(problems)


def test_the_mutations_do_what_they_say():
    data, donor = bytes(range(10)), b"ABCDEFGH"
    assert mutate.apply(data, [("flip", 2, 0xFF)], donor) == bytes([0, 1, 0xFD, 3, 4, 5, 6,
                                                                    7, 8, 9])
    assert mutate.apply(data, [("cut", 4)], donor) == bytes(range(4))
    assert mutate.apply(data, [("zero", 8, 5)], donor) == bytes(range(8)) + bytes(2)
    assert mutate.apply(data, [("splice", 1, 2, 3)], donor) == b"\x00CDE" + bytes(range(4, 10))
    assert mutate.apply(data, [("insert", 1, 6, 9)], donor) == b"\x00GH" + bytes(range(1, 10))
    assert mutate.apply(data, [("repeat", 8, 4)], donor) == bytes(range(10)) + bytes([8, 9])
