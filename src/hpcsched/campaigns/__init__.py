"""Task sources that create work as results arrive; they run unchanged in sim and runtime."""

from hpcsched.campaigns.api import Campaign, Context, RequestTooLargeError, TaskState
from hpcsched.campaigns.periodic import Periodic
from hpcsched.campaigns.task import Task, TaskResult

__all__ = [
    "Campaign",
    "Context",
    "Periodic",
    "RequestTooLargeError",
    "Task",
    "TaskResult",
    "TaskState",
]
