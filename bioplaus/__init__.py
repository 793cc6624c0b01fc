"""bioplaus: how close does a biologically plausible learning rule come to gradient descent?"""

from bioplaus import metrics, models, rules, tasks
from bioplaus.errors import BioplausError
from bioplaus.protocol import Condition, Protocol, PublishedTarget, load_protocol
from bioplaus.rules.wrap import wrap

from bioplaus.version import __version__

__all__ = ["BioplausError", "Condition", "Protocol", "PublishedTarget", "load_protocol", "metrics", "models", "rules", "tasks", "wrap"]
