"""The replica run's target: reads from a replica against the same reads without replicas."""

from bench.report import evaluate
from tests.bench.test_report import measurement, results


def test_reads_from_a_replica_are_compared_over_both_rounds_with_the_same_server_without() -> None:
    run = results(
        measurement("primary", "get_user", 1000),
        measurement("replica", "get_user", 1000),
        measurement("replica", "get_user", 700),  # the second round, in the other order
        measurement("primary", "get_user", 1000),
        measurement("primary", "list_posts", 1000),
        measurement("replica", "list_posts", 950, errors=1),
    )

    evaluate(run)

    found = {check.name: (check.value, check.met) for check in run.checks}
    assert found["Read replica, get_user"] == ("0.85", False)
    assert found["Read replica, list_posts"] == ("0.95", False)  # an error misses it


def test_without_a_replica_run_there_is_no_replica_target() -> None:
    run = results(measurement("inkwell", "get_user", 1000))

    evaluate(run)

    assert not [check for check in run.checks if check.name.startswith("Read replica")]
