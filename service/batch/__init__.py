"""The pharmacy batch command (`python -m service.batch INPUT -o OUTPUT ...`): many patients screened like the API."""

from service.batch.cli import main, parse_args, run

__all__ = ["main", "parse_args", "run"]
