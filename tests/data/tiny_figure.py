"""A tiny figure for the tests: test loss of the 'tiny' protocol by rule."""

import matplotlib.pyplot as plt

from bioplaus.plotting import plot_by_rule


def make(store):
    df = store.metrics(protocol="tiny", metric="test_loss")
    if df.empty:
        raise ValueError("no test_loss rows of protocol 'tiny' in the store")
    fig, ax = plt.subplots(figsize=(3, 2))
    plot_by_rule(ax, df)
    ax.set(xlabel="step", ylabel="test loss")
    return fig
