"""Learning rules: each proposes an update in gradient units through ``estimate(model, batch)``.

Every rule class in ``bioplaus/rules/*.py`` is available here by its class name
(``rules.FeedbackAlignment``) and by its rule name (``rules.get("feedback_alignment")``),
found through the rule index (:func:`rule_index`, read from the source): adding a rule is
adding its file. A rule's module is imported when the rule is first asked for.
"""

from typing import Any

from bioplaus.core import Batch
from bioplaus.rules.base import LayeredRule, Rule
from bioplaus.rules.registry import get, get_rule, names, rule_class, rule_index, rule_names
from bioplaus.rules.wrap import wrap


def _classes() -> dict[str, str]:
    """Class (or factory) name -> rule name, for every rule in the index."""
    return {entry.cls: name for name, entry in rule_index().items()}


def __getattr__(attribute: str) -> Any:
    name = _classes().get(attribute)
    if name is None:
        raise AttributeError(f"module 'bioplaus.rules' has no attribute {attribute!r}")
    value = rule_class(name)
    globals()[attribute] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_classes()))


__all__ = ["Batch", "LayeredRule", "Rule", "get", "get_rule", "names", "rule_class", "rule_index", "rule_names", "wrap",
           *sorted(_classes())]
