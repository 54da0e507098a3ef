"""The hostile-file suite (issue 21): generated weight files of every format that an attacker
would make, and a worker process that reads each one under a memory and time limit.

    sandbox.py   the private folders a case runs in, the secret arrays links point to
    worker.py    the child process: reads one file per request, under limits, answers in JSON
    runner.py    the parent side: a pool of workers, and the verdict on each answer
    builders.py  writers of raw files: torch zips and pickles, safetensors, .npy/.npz, HDF5
    cases.py     the catalogue: every hostile case, its format, family and expected outcome
    mutate.py    byte mutations (flip, cut, splice) for the fuzzer

tests/test_hostile_files.py runs the catalogue; tests/test_hostile_fuzz.py the fuzzer.
"""
