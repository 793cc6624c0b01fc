"""Tasks: data, loss and evaluation for runs."""

from bioplaus.tasks.base import Task, TaskInstance, cross_entropy, squared_error
from bioplaus.tasks.digits import Digits
from bioplaus.tasks.idx import read_idx, write_idx
from bioplaus.tasks.linear_teacher import LinearTeacher
from bioplaus.tasks.mnist import MNIST, load_mnist
from bioplaus.tasks.one_hot import OneHotSquaredError, one_hot_squared_error

__all__ = ["MNIST", "Digits", "LinearTeacher", "Task", "TaskInstance", "cross_entropy", "load_mnist", "read_idx", "squared_error", "write_idx", "OneHotSquaredError", "one_hot_squared_error"]
