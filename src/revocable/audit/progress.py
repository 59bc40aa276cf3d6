"""A rich progress display for the slow parts of a run (sampling session ids), on stderr."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

__all__ = ["RichProgress"]


class RichProgress:
    """Implements ``context.Progress``: one line per running check, a bar while it counts."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def check_started(self, check_id: str, title: str) -> None:
        self.check_finished(check_id)
        self._tasks[check_id] = self._progress.add_task(f"{check_id} {title[:50]}", total=None)

    def advance(self, check_id: str, done: int, total: int) -> None:
        task = self._tasks.get(check_id)
        if task is not None:
            self._progress.update(task, completed=done, total=total)

    def check_finished(self, check_id: str) -> None:
        task = self._tasks.pop(check_id, None)
        if task is not None:
            self._progress.remove_task(task)
