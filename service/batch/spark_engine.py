"""`python -m service.batch --engine spark`: the batch check as a Spark job, with the local engine's options and exits."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from service.batch.cli import EXIT_LINES_FAILED, EXIT_OK, EXIT_USAGE, PROGRESS_SECONDS
from service.batch.readers import UsageError, format_of

# Line numbers come from reading each file start to end in one task: Spark must neither split a file nor pack two
# into one task. Both settings are read when a job is planned, so they hold for the whole run and are then restored.
WHOLE_FILES = {
    "spark.sql.files.maxPartitionBytes": str(1 << 50),
    "spark.sql.files.openCostInBytes": str(1 << 50),
}
HEADER_LINES = 1000  # lines of each CSV file sent to check its header (a header is one record, seldom two lines)
ERRORS_SHOWN = 20  # failed lines echoed on stderr; all of them are in OUTPUT/_errors
SUBMITTED = "PYSPARK_GATEWAY_PORT" in os.environ  # started by spark-submit (or pyspark): it chose the master


def _usage_problem(args: argparse.Namespace) -> str | None:
    if args.input == "-" or args.output == "-":
        return "--engine spark reads files and writes a directory: give INPUT and -o OUTPUT as paths or URIs"
    if args.workers and (args.spark_master or SUBMITTED):
        return "--workers sets local[N]; size a cluster's executors with spark-submit instead"
    return None


@contextlib.contextmanager
def whole_files(spark: Any) -> Iterator[None]:
    """Spark reads every input file whole, in one task, for the length of the block."""
    saved = {key: spark.conf.get(key, None) for key in WHOLE_FILES}
    for key, value in WHOLE_FILES.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _session(args: argparse.Namespace, bar: bool) -> tuple[Any, bool]:
    """The active session (a notebook's, spark-submit's), else one of ours; True when we made it (and stop it)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415  (optional dependency)

    active = SparkSession.getActiveSession()
    if active is not None:
        if args.workers or args.spark_master:
            raise UsageError(
                "a Spark session is already running (a notebook's or pyspark's): --workers and --spark-master"
                " cannot change its master; leave them out"
            )
        return active, False
    builder = SparkSession.builder.appName("ldn-batch").config("spark.ui.showConsoleProgress", str(bar).lower())
    master = args.spark_master or (None if SUBMITTED else f"local[{args.workers or os.cpu_count() or 1}]")
    if master:
        builder = builder.master(master)
    if master and master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the executors' Python is this environment's
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")  # Spark's warnings would bury the summary; errors still show
    return spark, True


def _text_lines(spark: Any, path: str) -> Any:
    """Every line of the input as bytes (exactly as in the file, less the newline), with its file."""
    from pyspark.sql import functions as F  # noqa: PLC0415, N812

    from service.batch.spark import FILE  # noqa: PLC0415

    frame = spark.read.option("lineSep", "\n").text(path)
    return frame.select(
        F.col("_metadata.file_path").alias(FILE),
        F.col("value").cast("binary").alias("raw"),
        F.col("_metadata.file_block_start").alias("block"),
    )


def _check_csv_headers(lines: Any) -> None:
    from pyspark.sql import functions as F  # noqa: PLC0415, N812

    from service.batch.spark import csv_header_problems  # noqa: PLC0415

    # One file per task, so the row id's low bits are the line index within the file.
    head = lines.filter(F.monotonically_increasing_id().bitwiseAND((1 << 33) - 1) < HEADER_LINES)
    problems = head.mapInArrow(csv_header_problems, "file string, problem string").collect()
    if problems:
        raise UsageError("; ".join(f"{row['file']}: {row['problem']}" for row in sorted(problems)))


def _outcomes(spark: Any, args: argparse.Namespace, input_format: str, settings: Any) -> Any:
    from pyspark.sql import functions as F  # noqa: PLC0415, N812

    from service.batch import spark as job  # noqa: PLC0415

    if input_format == "parquet":
        frame = spark.read.parquet(args.input)
        frame = frame.select(
            "*", F.col("_metadata.file_path").alias(job.FILE), (F.col("_metadata.row_index") + 1).alias(job.LINE)
        )
        return job.outcomes_of_frame(frame, settings)
    lines = _text_lines(spark, args.input)
    if input_format == "csv":
        _check_csv_headers(lines)
        return job.outcomes_of_rows(lines.mapInArrow(job.frame_csv, job.ROWS), settings)
    return job.outcomes_of_lines(lines.mapInArrow(job.frame_ndjson, job.LINES), settings)


def _writer(frame: Any, output_format: str) -> Any:
    writer = frame.write.mode("overwrite")
    if output_format == "csv":
        # As the local writer: quotes doubled (RFC 4180), spaces kept (Spark trims them by default), empty cells empty.
        return writer.format("csv").options(
            header="true", escape='"', emptyValue="", ignoreLeadingWhiteSpace="false", ignoreTrailingWhiteSpace="false"
        )
    if output_format == "ndjson":
        return writer.format("json").option("ignoreNullFields", "false")  # "code": null, as the local engine
    return writer.format("parquet")


def _check_output(spark: Any, output: str) -> None:
    """Refuse to overwrite anything but an earlier output (a directory with _SUCCESS) or an empty directory."""
    jvm, conf = spark.sparkContext._jvm, spark.sparkContext._jsc.hadoopConfiguration()
    path = jvm.org.apache.hadoop.fs.Path(output)
    fs = path.getFileSystem(conf)
    if not fs.exists(path):
        return
    status = fs.getFileStatus(path)
    if status.isDirectory() and (fs.exists(jvm.org.apache.hadoop.fs.Path(path, "_SUCCESS")) or not fs.listStatus(path)):
        return
    raise UsageError(f"{output} exists and is not an earlier output of this command (no _SUCCESS); not overwritten")


class _StatusLines(threading.Thread):
    """A plain progress line every so often, for a nightly job's log (Spark's bar is for terminals)."""

    def __init__(self, spark: Any, stderr: TextIO, every: float) -> None:
        super().__init__(daemon=True)
        self.tracker, self.stderr, self.every = spark.sparkContext.statusTracker(), stderr, every
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            for stage in self.tracker.getActiveStageIds():
                info = self.tracker.getStageInfo(stage)
                if info is not None:
                    self.stderr.write(
                        f"screening: stage {stage}: {info.numCompletedTasks} of {info.numTasks} tasks done\n"
                    )
                    self.stderr.flush()


def run_spark(args: argparse.Namespace, stderr: TextIO) -> int:
    """Run the batch as a Spark job; returns the exit status."""
    problem = _usage_problem(args)
    if problem:
        stderr.write(f"error: {problem}\n")
        return EXIT_USAGE
    try:
        from py4j.protocol import Py4JJavaError  # noqa: PLC0415
        from pyspark.errors import PySparkException  # noqa: PLC0415

        from service.batch import spark as job  # noqa: PLC0415
    except ImportError as error:
        stderr.write(f"error: --engine spark needs pyspark and pyarrow (pip install '.[spark]'): {error}\n")
        return EXIT_USAGE
    input_format = format_of(args.input, args.input_format, "ndjson")
    output_format = format_of(args.output, args.format, "ndjson")
    bar = args.progress or (not args.no_progress and stderr.isatty())
    started = time.perf_counter()
    try:
        spark, ours = _session(args, bar)
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        return EXIT_USAGE
    except (PySparkException, OSError) as error:
        stderr.write(f"error: Spark could not start (it needs Java 17 or later, on PATH or in JAVA_HOME): {error}\n")
        return EXIT_USAGE
    status_lines = None
    if not bar and not args.no_progress:
        status_lines = _StatusLines(spark, stderr, float(os.environ.get("LDN_PROGRESS_SECONDS", PROGRESS_SECONDS)))
        status_lines.start()
    as_of = args.as_of or datetime.datetime.now(datetime.UTC).date().isoformat()  # one date for every executor
    settings = job.Settings(args.vocabulary, args.max_medications, as_of)
    try:
        with whole_files(spark):
            screening = job.Screening(_outcomes(spark, args, input_format, settings).persist())
            _check_output(spark, args.output)
            _writer(screening.alerts(output_format), output_format).save(args.output)
            errors = screening.errors()
            _writer(errors, output_format).save(args.output.rstrip("/") + "/_errors")
            summary = screening.summary()
            shown = errors.orderBy("file", "line").limit(ERRORS_SHOWN).collect() if summary.failed else []
            screening.outcomes.unpersist()
    except UsageError as error:
        stderr.write(f"error: {error}\n")
        return EXIT_USAGE
    except (PySparkException, Py4JJavaError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        stderr.write(f"error: the Spark job could not run: {first}\n")
        return EXIT_USAGE
    finally:
        if status_lines is not None:
            status_lines.done.set()
        if ours:
            spark.stop()
    for row in shown:
        stderr.write(row["message"] + "\n")
    if len(shown) == ERRORS_SHOWN:
        stderr.write(f"(the first {len(shown)} failures; every one is in {args.output.rstrip('/')}/_errors)\n")
    stderr.write(summary.render(time.perf_counter() - started))
    return EXIT_LINES_FAILED if summary.failed else EXIT_OK
