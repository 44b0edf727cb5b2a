"""The command line: arguments, the run from input to output, exit statuses, and `main()`."""

from __future__ import annotations

import argparse
import datetime
import io
import os
import sys
import time
from collections.abc import Sequence
from typing import BinaryIO, TextIO

from schemas.check import DEFAULT_MAX_MEDICATIONS
from service.batch.pool import outcomes_in_order, repeated_patient
from service.batch.readers import SeenIds, UsageError, format_of, read_items
from service.batch.records import LineError, PatientResult
from service.batch.summary import Summary
from service.batch.writers import writer_for

EXIT_OK = 0  # every line was checked
EXIT_LINES_FAILED = 1  # at least one line failed; each was reported on stderr and skipped
EXIT_USAGE = 2  # bad arguments, unreadable input, unusable CSV header (argparse uses 2 as well)


FORMATS = ("ndjson", "csv", "parquet")
PROGRESS_SECONDS = 30.0  # how often a plain progress line is written when stderr is not a terminal


def _date(value: str) -> str:
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m service.batch",
        description="Screen many patients' medication lists for low-dose naltrexone safety issues.",
        epilog="Exit status: 0 all lines checked, 1 some lines failed (reported on stderr), 2 usage error.",
    )
    parser.add_argument(
        "input", help="NDJSON or CSV file of patients, or - for standard input (Spark: files, directories, URIs)"
    )
    parser.add_argument(
        "-o",
        "--output",
        default="-",
        help="where to write results (default: standard output; Spark: a directory of part files)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: from the output's extension, else ndjson; parquet needs --engine spark)",
    )
    parser.add_argument(
        "--input-format",
        choices=FORMATS,
        help="input format (default: from the input's extension, else ndjson; parquet needs --engine spark)",
    )
    parser.add_argument(
        "--engine",
        choices=("local", "spark"),
        default="local",
        help="local: this machine's process pool (default); spark: an Apache Spark job (pip install '.[spark]')",
    )
    parser.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark (default: the one spark-submit gives, else local[WORKERS])",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        help=f"worker processes, or Spark's local[N] (default: every core, {os.cpu_count() or 1} here)",
    )
    parser.add_argument(
        "--as-of", type=_date, help="the check date for patients whose line gives none (default: today)"
    )
    parser.add_argument(
        "--max-medications",
        type=_positive,
        default=DEFAULT_MAX_MEDICATIONS,
        help="medications per patient (default: %(default)s, as the API)",
    )
    parser.add_argument(
        "--vocabulary",
        help="vocabulary JSON built by scripts/build_vocabulary.py (default: rules/knowledge/data/vocabulary.json)",
    )
    shown = parser.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress", action="store_true", help="a progress bar on stderr even when it is not a terminal"
    )
    shown.add_argument("--no-progress", action="store_true", help="no progress bar and no progress lines")
    return parser.parse_args(argv)


def _count_lines(path: str) -> int:
    count, last = 0, b"\n"
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def run(
    args: argparse.Namespace, stdin: BinaryIO | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run a batch; returns the exit status."""
    stderr = stderr or sys.stderr
    if args.engine == "spark":
        from service.batch.spark_engine import run_spark  # noqa: PLC0415  (pyspark is an optional dependency)

        return run_spark(args, stderr)
    if args.spark_master:
        stderr.write("error: --spark-master needs --engine spark\n")
        return EXIT_USAGE
    stdin = stdin or sys.stdin.buffer
    input_format = format_of(args.input, args.input_format, "ndjson")
    output_format = format_of(args.output, args.format, "ndjson")
    if "parquet" in (input_format, output_format):
        stderr.write("error: Parquet is read and written by the Spark engine only (--engine spark)\n")
        return EXIT_USAGE
    workers = args.workers or os.cpu_count() or 1
    try:
        source = stdin if args.input == "-" else open(args.input, "rb")  # closed in the finally below
    except OSError as error:
        stderr.write(f"error: cannot read {args.input}: {error.strerror}\n")
        return EXIT_USAGE
    try:
        if args.output == "-":
            sink: TextIO = stdout or io.TextIOWrapper(
                sys.stdout.buffer, encoding="utf-8", newline="", write_through=False
            )
            close_sink = stdout is None
        else:
            sink = open(args.output, "w", encoding="utf-8", newline="")
            close_sink = True
    except OSError as error:
        stderr.write(f"error: cannot write {args.output}: {error.strerror}\n")
        if source is not stdin:
            source.close()
        return EXIT_USAGE
    # A bar on a terminal (or when asked); in a nightly job's log, a plain line now and then instead.
    bar = args.progress or (not args.no_progress and stderr.isatty())
    plain = not bar and not args.no_progress
    every = float(os.environ.get("LDN_PROGRESS_SECONDS", PROGRESS_SECONDS))
    last_line = time.monotonic()
    total = None
    if args.input != "-" and os.path.isfile(args.input) and bar:
        total = _count_lines(args.input) - (input_format == "csv")
    progress = None
    if bar:
        from tqdm import tqdm  # noqa: PLC0415

        progress = tqdm(
            total=total,
            unit=" lines",
            file=stderr,
            dynamic_ncols=True,
            smoothing=0.1,
            desc="screening",
            mininterval=0.5,
        )
    summary = Summary()
    started = time.perf_counter()
    status = EXIT_OK
    try:
        items = read_items(source, input_format)
        writer = writer_for(sink, output_format)
        done = 1 if input_format == "csv" else 0  # the CSV header is a line read, not a patient
        seen = SeenIds()
        for outcome in outcomes_in_order(items, workers, args.vocabulary, args.max_medications, args.as_of):
            if isinstance(outcome, PatientResult):
                if outcome.patient_id in seen:
                    outcome = repeated_patient(outcome)
                else:
                    seen.add(outcome.patient_id)
            if isinstance(outcome, LineError):
                summary.add_failure(outcome)
                if progress is not None:
                    progress.write(outcome.message, file=stderr)
                else:
                    stderr.write(outcome.message + "\n")
            else:
                summary.add_patient(outcome)
                for alert in outcome.alerts or (None,):
                    writer.write(outcome.patient_id, outcome.first, alert)
            if progress is not None:
                progress.update(max(0, outcome.last - done))
                done = max(done, outcome.last)
                if summary.patients % 256 == 0:
                    progress.set_postfix_str(f"{summary.patients} patients", refresh=False)
            elif plain and time.monotonic() - last_line >= every:
                last_line = time.monotonic()
                stderr.write(
                    f"screening: {outcome.last} lines read, {summary.patients} patients checked, "
                    f"{summary.failed} failed\n"
                )
                stderr.flush()
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        status = EXIT_USAGE
    except BrokenPipeError:
        # A reader that stops early (`| head`) is not an error; the summary still says what was checked.
        status = EXIT_OK if not summary.failed else EXIT_LINES_FAILED
    finally:
        if progress is not None:
            progress.set_postfix_str(f"{summary.patients} patients", refresh=False)
            progress.close()
        if source is not stdin:
            source.close()
        try:
            if args.output != "-":
                sink.close()
            elif close_sink:
                sink.flush()
                sink.detach()  # type: ignore[attr-defined]  # our own wrapper: leave sys.stdout usable
            else:
                sink.flush()
        except BrokenPipeError:
            pass
    if status == EXIT_USAGE:
        return EXIT_USAGE
    stderr.write(summary.render(time.perf_counter() - started))
    return EXIT_LINES_FAILED if summary.failed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m service.batch` and of the `ldn-batch` script."""
    return run(parse_args(argv))
