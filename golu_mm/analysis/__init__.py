"""Comparing activations: aggregating sweep results, and the plots of the paper's arguments."""
from .comparison import aggregate, differences, plot_curves, write_table
from .plots import plot_activation_distributions, plot_activation_functions

__all__ = ['aggregate', 'differences', 'plot_curves', 'write_table', 'plot_activation_functions',
           'plot_activation_distributions']
