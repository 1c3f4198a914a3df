"""benchmarks/molecules.py: a measuring child that dies, with or without a Python error, ends its row only."""

import multiprocessing
import os

from benchmarks import molecules as benchmark


def _dies_silently(queue) -> None:
    os._exit(3)  # no row, no exception: as a segfault or an out-of-memory kill


def _answers(queue) -> None:
    queue.put({"train": 1.0})


def run(target, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(queue, *args))
    process.start()
    row = benchmark.child_result(queue, process)
    process.join()
    return row


def test_a_child_that_dies_without_a_row_gives_an_error_row():
    assert run(_dies_silently) == {"error": "the measuring process died (exit code 3)"}


def test_a_child_that_answers_gives_its_row():
    assert run(_answers) == {"train": 1.0}


def test_a_python_error_in_the_measurement_is_reported_as_a_row():
    row = run(benchmark._child, "egnn", 8, 1, "no_such_device", 1)
    assert set(row) == {"error"} and "no_such_device" in row["error"]
