"""EP against backprop on two hidden layers (protocols/scellier2017_digits_2h.py): the panels of
``figures/scellier2017_digits.py``, drawn from this protocol's runs only."""

from pathlib import Path

from bioplaus.plotting import load_figure_script

PROTOCOL = "scellier2017_digits_2h"


def make(store):
    return load_figure_script(Path(__file__).with_name("scellier2017_digits.py")).panels(store, PROTOCOL)
