from collections.abc import Callable, Iterator

from pipelines.timing import Timings


def ticking(*seconds: float) -> Callable[[], float]:
    """A clock that reads each of `seconds` in turn."""
    readings: Iterator[float] = iter(seconds)
    return lambda: next(readings)


def test_phases_report_as_camel_case_ms_in_order_then_the_total() -> None:
    # made at 0; decode 1-1.5; inference 2-3.25 (what runs between phases counts in the total)
    timings = Timings(ticking(0, 1, 1.5, 2, 3.25))
    with timings.phase("decode"):
        pass
    with timings.phase("inference"):
        pass

    assert timings.as_metadata() == {"decodeMs": 500.0, "inferenceMs": 1250.0, "totalMs": 3250.0}


def test_begin_inside_a_phase_hands_the_rest_of_the_block_to_the_next_phase() -> None:
    timings = Timings(ticking(0, 0, 0.002, 0.0051234))
    with timings.phase("denoise"):
        timings.begin("decode")

    assert timings.as_metadata() == {"denoiseMs": 2.0, "decodeMs": 3.12, "totalMs": 5.12}


def test_a_phase_run_twice_adds_up() -> None:
    timings = Timings(ticking(0, 0, 1, 2, 4))
    for _ in range(2):
        with timings.phase("swap"):
            pass

    assert timings.as_metadata() == {"swapMs": 3000.0, "totalMs": 4000.0}


def test_a_phase_that_raises_still_counts() -> None:
    timings = Timings(ticking(0, 0, 1))
    try:
        with timings.phase("detect"):
            raise ValueError
    except ValueError:
        pass

    assert timings.as_metadata() == {"detectMs": 1000.0, "totalMs": 1000.0}
