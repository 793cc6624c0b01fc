"""Tasks: data, loss and evaluation for runs."""

from bioplaus.tasks.bernoulli_target import BernoulliTarget
from bioplaus.tasks.base import Task, TaskInstance, cross_entropy, squared_error
from bioplaus.tasks.data_choice import ByDataDir, mnist_or_digits
from bioplaus.tasks.digits import Digits
from bioplaus.tasks.episodic import Episodic
from bioplaus.tasks.idx import read_idx, write_idx
from bioplaus.tasks.linear_teacher import LinearTeacher
from bioplaus.tasks.mnist import MNIST, load_mnist
from bioplaus.tasks.mnist1d import MNIST1D
from bioplaus.tasks.yin_yang_spikes import YinYangSpikes
from bioplaus.tasks.one_hot import OneHotSquaredError, one_hot_squared_error
from bioplaus.tasks.pattern_generation import PatternGeneration
from bioplaus.tasks.randman import Randman
from bioplaus.tasks.sequence import AddingProblem, CopyMemory, DelayedRecall, InfluenceBalancing, SequenceTask, sequence_squared_error
from bioplaus.tasks.yin_yang import YinYang

__all__ = [
    "MNIST", "MNIST1D", "AddingProblem", "BernoulliTarget",
    "ByDataDir", "CopyMemory", "DelayedRecall", "Digits", "Episodic", "InfluenceBalancing", "LinearTeacher",
    "OneHotSquaredError", "PatternGeneration", "Randman", "SequenceTask", "Task", "TaskInstance", "YinYang", "YinYangSpikes",
    "cross_entropy", "load_mnist", "mnist_or_digits", "one_hot_squared_error", "read_idx", "sequence_squared_error", "squared_error",
    "write_idx",
]
